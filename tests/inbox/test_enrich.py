"""inbox.lib.enrich on hand-written examples (not taken from the evaluation data), plus the HateCheck
threat target on the real data when it is present."""

import csv

import pytest
from django.conf import settings

from inbox.lib.enrich import Enrichment, enrich_batch, enrich_text
from inbox.lib.enrich.flags import flag_bits, flag_bits_unhinted
from inbox.lib.enrich.text import normalise
from inbox.models import Flag

OWN = ("KLM", "KLM_NL")


def flags_of(text: str, **kwargs) -> Flag:
    return Flag(enrich_text(text, **kwargs).flags)


@pytest.mark.parametrize(
    "text",
    [
        "Ik weet waar je woont, let maar op.",
        "Morgen kom ik langs met een honkbalknuppel bij jullie kantoor",
        "Als mijn pakket niet komt steek ik jullie winkel in de fik",
        "Ik ga die chauffeur echt vermoorden",
        "Die medewerker moet gewoon neergeschoten worden",
        "Er ligt een bom in jullie hoofdkantoor",
        "I will find you and hurt you",
        "I know where you live",
        "Someone should burn your office down",
        "ik maak je af",
        "k\u200bill you all, I'm going to kill you",  # zero-width space inside a word
    ],
)
def test_it_flags_threats(text):
    assert Flag.THREAT in flags_of(text)


@pytest.mark.parametrize(
    "text",
    [
        "De trein had weer vertraging, echt dodelijk saai dit",
        "Ik ga de tijd maar doden met een boek",
        "Ik lach me dood om jullie reclame",
        "This delay is killing me",
        "Would it kill you to answer the phone?",
        "Shoot us a DM with your booking code",
        "Ik zou nooit iemand pijn doen, maar dit is belachelijk",
        "Hij zei tegen mij dat hij de buurman zou vermoorden, moet ik de politie bellen?",
        'Jullie medewerker schreef "ik maak je af", hoe kan dat?',
        "De bomen langs het spoor zijn omgewaaid",
        "Mijn executive card werkt niet",
    ],
)
def test_it_does_not_flag_talk_about_violence(text):
    assert Flag.THREAT not in flags_of(text)


def test_negation_only_covers_its_own_clause():
    assert Flag.THREAT in flags_of("Ik ben niet boos. Ik steek je neer.")


def test_it_flags_abuse_and_profanity():
    assert Flag.ABUSE in flags_of("Wat een kutbedrijf zijn jullie")
    assert Flag.ABUSE in flags_of("you absolute morons lost my bag")
    assert Flag.ABUSE not in flags_of("Bedankt voor de snelle hulp")


def test_it_flags_political_remarks():
    assert Flag.POLITICAL in flags_of("Dit kabinet laat de huurders gewoon stikken")
    assert Flag.POLITICAL in flags_of("Stem op de PVV en dit is opgelost")
    assert Flag.POLITICAL not in flags_of("Ik denk dat mijn factuur niet klopt")


def test_it_flags_spam():
    assert Flag.SPAM in flags_of("Win free bitcoin now! Claim your prize https://bit.ly/x")
    assert Flag.SPAM in flags_of("Verdien €500 per dag vanuit huis, klik hier https://x.example")
    assert Flag.SPAM not in flags_of("Hier is de link naar mijn klacht: https://example.com/k/1")
    assert Flag.SPAM not in flags_of("I paid $50 for a seat that was broken")


@pytest.mark.parametrize(
    "handle,name",
    [
        ("KLM_0fficial", ""),
        ("KLMSupport", ""),
        ("k1m_nl", ""),
        ("@KLM_Care", ""),
        ("jan1985", "KLM Klantenservice"),
    ],
)
def test_it_flags_impersonation(handle, name):
    assert Flag.IMPERSONATION in flags_of(
        "DM ons je gegevens", author_handle=handle, author_name=name, own_handles=OWN
    )


@pytest.mark.parametrize("handle", ["KLM", "klm_nl", "@KLM", "klaasjan", "KLN", "Kim"])
def test_it_does_not_flag_us_or_strangers_as_impersonators(handle):
    assert Flag.IMPERSONATION not in flags_of(
        "hallo", author_handle=handle, author_name="", own_handles=OWN
    )


def test_impersonation_needs_own_handles():
    assert Flag.IMPERSONATION not in flags_of("hallo", author_handle="KLM_0fficial")


def test_cyrillic_lookalikes_are_impersonation():
    assert Flag.IMPERSONATION in flags_of(
        "hallo", author_handle="NS_\u043enline", own_handles=["NS_online"]
    )


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Thanks so much, the crew was amazing!", "positive"),
        ("Super geholpen, heel vriendelijk, bedankt!", "positive"),
        ("My flight was cancelled and my bag is lost. Worst airline ever.", "negative"),
        ("Weer vertraging, dit is echt belachelijk", "negative"),
        ("De service was niet goed", "negative"),
        ("The staff were not helpful at all", "negative"),
        ("Hoe laat vertrekt de trein naar Utrecht", "neutral"),
        ("What time does boarding start", "neutral"),
    ],
)
def test_sentiment(text, expected):
    assert enrich_text(text).sentiment == expected


def test_but_shifts_weight_to_what_follows():
    assert enrich_text("The food was good, but the delay was horrible").sentiment == "negative"


@pytest.mark.parametrize(
    "text,language",
    [
        ("Waarom is mijn pakket nog steeds niet bezorgd? Ik wacht al een week.", "nl"),
        ("Why has my parcel still not arrived? I have been waiting for a week.", "en"),
        ("Warum ist mein Paket immer noch nicht angekommen?", "de"),
        ("Pourquoi mon colis n'est-il toujours pas arrivé ?", "fr"),
        ("¿Por qué mi paquete todavía no ha llegado?", "es"),
        ("Paketim neden hâlâ gelmedi?", "tr"),
        ("لماذا لم يصل طردي بعد؟", "ar"),
        ("🙂👍", ""),
        ("", ""),
    ],
)
def test_language(text, language):
    assert enrich_text(text).language == language


def test_batch_matches_single_calls_in_order():
    items = [
        ("Ik weet waar je woont", "piet", "Piet"),
        ("Thanks, great flight!", "KLM_0fficial", ""),
        ("Waarom is de trein weer te laat, belachelijk", "", ""),
        ("", "", ""),
    ]
    batch = enrich_batch(items, own_handles=OWN)
    single = [enrich_text(t, author_handle=h, author_name=n, own_handles=OWN) for t, h, n in items]
    assert batch == single
    assert all(isinstance(e, Enrichment) for e in batch)
    assert batch[0].flags & Flag.THREAT and batch[1].flags & Flag.IMPERSONATION


def test_hints_never_change_a_verdict():
    """The Aho-Corasick pre-filter only skips work: same flags as running every expression."""
    texts = [
        "Ik weet waar je woont",
        "I'm going to find you",
        "Die kerel ga ik kapotslaan",
        "Ze moeten allemaal worden opgehangen",
        "fuck this airline",
        "Stem op de VVD",
        "free money https://t.me/x",
        "Thanks for the help",
        "Ik zal zijn keel doorsnijden",
        "De wereld is beter af zonder jullie",
    ]
    for text in texts:
        normalised = normalise(text)
        assert flag_bits(normalised) == flag_bits_unhinted(normalised), text


def _hatecheck_rows():
    path = settings.REALWORLD_DATA_DIR / "mhc_hatecheck_dutch.csv"
    if not path.exists():
        pytest.skip(f"real-world data not found at {path} (set REALWORLD_DATA_DIR)")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_hatecheck_dutch_threat_recall_and_false_positive_rate():
    rows = _hatecheck_rows()
    threats = [r for r in rows if r["functionality"] in {"threat_dir_h", "threat_norm_h"}]
    benign = [r for r in rows if r["label_gold"] == "non-hateful"]
    assert len(threats) == 280 and len(benign) == 1125

    def flagged(row):
        return bool(enrich_text(row["test_case"]).flags & Flag.THREAT)

    recall = sum(map(flagged, threats)) / len(threats)
    fpr = sum(map(flagged, benign)) / len(benign)
    assert recall >= 0.9, recall
    assert fpr <= 0.1, fpr
