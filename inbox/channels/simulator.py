"""A simulated social platform for the demo and the load tests.

fetch() streams realistic Dutch mentions of a housing corporation ("Woonstad") and English
mentions of an airline ("NorthSea Air"): questions, complaints, praise, threats, spam,
political remarks, an impersonator account, replies in threads, our own posts, and now
and then a viral burst (hundreds of comments under one post within minutes).

Everything is a pure function of (seed, minute, index): the minute's message count and
timestamps come from a generator seeded with (seed, minute), each message's content from
one seeded with (seed, minute, index). So the same seed and clock give the same ids and
texts, a replayed poll creates nothing new, and a message can point at a parent in an
earlier minute without any stored state. Time comes from django.utils.timezone.now, so
time-machine can freeze and move it in tests.

Settings (ChannelConfig.settings): seed (default: the channel id), rate_per_minute
(default 6; 30,000 gives the 500 messages/s of the load benchmark), burst_chance (chance a
minute starts a viral burst, default 0.01), language_mix ({"nl": 0.6, "en": 0.4}),
max_per_fetch (default 5,000), backlog_minutes (how far back a first or late poll reaches,
default 10), handle_nl / handle_en (our own accounts; default the channel's own_handles).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.utils import timezone

from inbox.channels.base import (
    ChannelConfig,
    ConnectorError,
    FetchResult,
    IncomingMessage,
    ReplyTarget,
)

BASE_URL = "https://sim.webcare.invalid"
REPLY_SHARE = 0.25  # share of ordinary messages that answer an earlier post
REPLY_LOOKBACK_MINUTES = 45
BURST_MAX_MINUTES = 8
AUTHOR_POOL = 4000  # per language: authors come back, so contacts get a history

ORG = {"nl": "Woonstad", "en": "NorthSea Air"}
DEFAULT_HANDLE = {"nl": "@woonstad", "en": "@northseaair"}
IMPERSONATORS = {
    "nl": [("@W00nstad_Service", "Woonstad Klantenservice"), ("@woonstad_nl_", "Woonstad NL")],
    "en": [("@NorthSeaAir_Help", "NorthSea Air Support"), ("@n0rthseaair", "NorthSea Air")],
}

# --------------------------------------------------------------------------- vocabulary

FIRST_NL = [
    "Anouk",
    "Bram",
    "Daan",
    "Emma",
    "Fleur",
    "Gijs",
    "Hanna",
    "Iris",
    "Jesse",
    "Joris",
    "Julia",
    "Kevin",
    "Lieke",
    "Lotte",
    "Luuk",
    "Maaike",
    "Mohamed",
    "Noah",
    "Noor",
    "Priya",
    "Ricardo",
    "Rik",
    "Sanne",
    "Sara",
    "Sem",
    "Sophie",
    "Stijn",
    "Tess",
    "Thijs",
    "Yusuf",
    "Fatima",
    "Ayoub",
    "Derya",
    "Wendy",
    "Kees",
    "Ria",
    "Henk",
    "Ingrid",
    "Marco",
    "Shanti",
    "Dewi",
    "Jolanda",
    "Ruud",
    "Ilse",
]
LAST_NL = [
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "el Amrani",
    "Yilmaz",
    "Ramdin",
    "Haddad",
    "Kartosen",
    "van der Berg",
    "Koster",
    "Verbeek",
    "Postma",
    "Willems",
    "Ouali",
]
FIRST_EN = [
    "James",
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Mason",
    "Sophia",
    "Ethan",
    "Isabella",
    "Lucas",
    "Mia",
    "Oliver",
    "Amelia",
    "Harry",
    "Grace",
    "Jack",
    "Chloe",
    "Aiden",
    "Priya",
    "Raj",
    "Chen",
    "Wei",
    "Sofia",
    "Mateo",
    "Fatima",
    "Omar",
    "Hannah",
    "Ryan",
    "Zoe",
]
LAST_EN = [
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Wilson",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Patel",
    "Khan",
    "Garcia",
    "Martinez",
    "Nguyen",
    "Chen",
    "Murphy",
    "O'Brien",
    "Kelly",
    "Clarke",
    "Hughes",
    "Lewis",
    "Hall",
    "Young",
]

STREETS = [
    "Mathenesserweg",
    "Schiekade",
    "Beukelsdijk",
    "Vierambachtsstraat",
    "Zwart Janstraat",
    "Goudsesingel",
    "Nieuwe Binnenweg",
    "Pleinweg",
    "Groene Hilledijk",
    "Putselaan",
    "Bergweg",
    "Zaagmolenkade",
    "Dordtselaan",
    "Spangesekade",
    "Oudedijk",
    "Slinge",
    "Beijerlandselaan",
    "Hillevliet",
    "Schiedamseweg",
    "Crooswijksestraat",
]
NEIGHBOURHOODS = [
    "Spangen",
    "Crooswijk",
    "het Oude Noorden",
    "Delfshaven",
    "Feijenoord",
    "Charlois",
    "Bloemhof",
    "Ommoord",
    "Hillesluis",
    "Lombardijen",
    "Tarwewijk",
    "Kralingen",
]
APPLIANCES = [
    "cv-ketel",
    "boiler",
    "mechanische ventilatie",
    "intercom",
    "lift",
    "deurbel",
    "keukenkraan",
    "afvoer",
    "rookmelder",
    "dakgoot",
    "mengkraan in de douche",
    "voordeur",
    "galerijverlichting",
    "radiator",
    "geiser",
]
DEFECTS = [
    "doet het niet meer",
    "is al weken kapot",
    "geeft steeds een storing",
    "maakt een enorm lawaai",
    "is losgeraakt",
    "werkt maar half",
]
AIRPORTS = [
    "LHR",
    "JFK",
    "BCN",
    "DXB",
    "CDG",
    "FCO",
    "LIS",
    "MAD",
    "BER",
    "CPH",
    "DUB",
    "EDI",
    "MAN",
    "IST",
    "NCE",
    "ATH",
]
BAG_ITEMS = ["suitcase", "stroller", "golf bag", "guitar", "wheelchair", "car seat", "backpack"]
PARTIES_NL = [
    "de coalitie",
    "de wethouder",
    "de gemeenteraad",
    "het kabinet",
    "Den Haag",
    "de minister",
]
SPAM_URLS = ("bit.ly/3xWin", "tinyurl.com/gratis-iphone", "cryptoboost.example/vip", "t.co/x9Zq")

TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("nl", "question"): (
        "{org} hoe lang duurt het gemiddeld voordat een reparatieverzoek voor de {appliance} wordt opgepakt? Melding staat al {days} dagen open.",
        "{handle} Is er een storing in {hood}? Onze {appliance} {defect} en bij de buren ook.",
        "Vraagje {handle}: mag ik zelf een vaatwasser aansluiten of moet dat via jullie? {street} {num}",
        "{handle} wanneer wordt de huurverhoging van dit jaar bekend gemaakt? En geldt de huurbevriezing ook voor ons?",
        "Hoi {handle}, ik heb een nieuwe bankrekening. Hoe wijzig ik de automatische incasso voor de huur?",
        "{handle} wij willen graag ruilen naar een woning met een lift, mijn moeder kan de trap niet meer op. Hoe werkt dat?",
        "Weet iemand of {org} de kozijnen aan de {street} dit jaar nog gaat schilderen? {handle}",
    ),
    ("nl", "complaint"): (
        "{handle} al {days} dagen geen warm water aan de {street} {num}. Drie keer gebeld, niemand komt. Dit is echt schandalig.",
        "Alweer de {appliance} kapot in ons portiek ({street}). {org} doet NIKS. Bewoners met rollators zitten vast. {handle}",
        "{handle} de monteur zou vandaag tussen 8 en 12 komen. Het is nu {hour}:00. Weer een vrije dag verspild.",
        "Die standaardbrief van {org} over 'woongedrag' is echt beledigend. Wij wonen hier 30 jaar netjes. {handle}",
        "Schimmel in de slaapkamer van mijn kinderen en {org} zegt dat we 'beter moeten ventileren'. Serieus?? {handle}",
        "{handle} de {appliance} {defect}. Melding {ticket} is gewoon gesloten zonder dat er iemand geweest is.",
        "Huurverhoging van {pct}% en ondertussen lekt het dak aan de {street}. Waar gaat ons geld heen {handle}?",
    ),
    ("nl", "praise"): (
        "Complimenten aan de monteur van {org} die vanochtend de {appliance} aan de {street} heeft gemaakt! Supersnel en vriendelijk 👏",
        "{handle} dank jullie wel voor de snelle hulp gisteravond. Top service!",
        "Nieuwe keuken erin gezet door {org}, ziet er prachtig uit 😍 {handle}",
        "Eindelijk is de galerij in {hood} opgeknapt. Echt mooi geworden, bedankt {handle}!",
        "Fijn gesprek gehad met de wijkbeheerder van {org}. Eindelijk iemand die luistert 🙏",
    ),
    ("nl", "threat"): (
        "Als die {appliance} morgen niet gemaakt is kom ik met een paar vrienden verhaal halen op jullie kantoor {handle}. Let maar op.",
        "{handle} ik weet waar die wijkbeheerder woont. Als hij nog één keer zo tegen mijn vrouw praat steek ik zijn auto in de fik.",
        "Die medewerker van {org} moet oppassen als ik hem op straat tegenkom. Ik sla hem in elkaar. {handle}",
        "{handle} nog één brief over mijn huurachterstand en ik kom met een knuppel langs op het kantoor.",
    ),
    ("nl", "spam"): (
        "🔥 Verdien €{money} per dag vanuit huis! Geen ervaring nodig. Klik: {url} #woonstad #rotterdam",
        "{handle} GRATIS iPhone 16 voor de eerste 100 huurders!! Claim via {url}",
        "Beste huurders, ontvang tot €{money} huurtoeslag extra. Vul je gegevens in op {url} 💰💰",
        "Bitcoin x10 in één week 🚀🚀 DM mij of ga naar {url} {handle}",
    ),
    ("nl", "political"): (
        "Typisch {party}: wel geld voor een nieuw stadskantoor, niet voor woningen. {org} is gewoon een verlengstuk van de politiek.",
        "{handle} stem in maart gewoon op een partij die sociale huur serieus neemt. Dit kan zo niet langer.",
        "Wie heeft die sloopplannen in {hood} bedacht? {party} moet eens met de bewoners gaan praten. #woningnood",
        "Zolang {party} de huren laat stijgen blijven corporaties als {org} gewoon cashen. Politieke keuze!",
    ),
    ("nl", "impersonation"): (
        "Beste huurder, u heeft recht op een huurteruggave van €{money}. Stuur uw IBAN en BSN in een DM naar dit account. Groet, {org}",
        "LET OP: vanwege een systeemstoring moet u uw huur van deze maand opnieuw overmaken via {url}. {org} Klantenservice",
        "Win een jaar gratis huur! Volg ons en deel dit bericht. Winnaars krijgen een DM van {org} 🎁",
    ),
    ("nl", "other"): (
        "Ben benieuwd wat {org} gaat doen met al die lege winkelpanden in {hood}.",
        "Net de nieuwsbrief van {org} gelezen. Mooie plannen voor {hood}, nu nog uitvoeren.",
        "Zit iemand anders ook in de wijkraad van {hood}? {handle} komt donderdag praten over de renovatie.",
    ),
    ("nl", "own"): (
        "Storing: de {appliance} aan de {street} is defect. Een monteur is onderweg. Excuses voor het ongemak.",
        "Vanaf {day} renoveren we 120 woningen in {hood}. Bewoners krijgen deze week een brief met alle informatie.",
        "Onze klantenservice is vandaag tot 17:00 bereikbaar. Met spoed? Bel het storingsnummer.",
        "Tip: ventileer dagelijks 15 minuten, ook in de winter. Zo voorkomt u schimmel en vocht.",
    ),
    ("nl", "follow_up"): (
        "Nog steeds niks gehoord {handle}. Hallo??",
        "Update: er is nog steeds niemand geweest. Dag {days}.",
        "Ik heb jullie een DM gestuurd met mijn adres en telefoonnummer {handle}.",
        "Bedankt voor de reactie, maar de afspraak is weer verzet. Dit is de derde keer.",
        "Top, de monteur komt {day}. Dank!",
    ),
    ("nl", "chime_in"): (
        "Precies hetzelfde bij ons aan de {street}. Al weken.",
        "Herkenbaar. Bij mijn moeder in {hood} precies zo.",
        "Gewoon blijven bellen, anders gebeurt er niks. Ik heb 6 weken gewacht.",
        "Moet je bij de huurcommissie melden, dan gaan ze wel bewegen.",
        "Ik vind dat {org} wel snel reageert eigenlijk, bij mij was het in 2 dagen geregeld.",
        "Dit is toch niet normaal in 2025?! @{tagged}",
    ),
    ("nl", "abuse"): (
        "{org} stelletje oplichters. Kapot moeten jullie.",
        "Wat een kutbedrijf is {org} ook. Zakkenvullers.",
        "Idioten daar bij {org}, allemaal ontslaan.",
    ),
    ("nl", "burst_own"): (
        "Wij begrijpen dat onze brief over 'overlast door bewoners' veel mensen heeft gekwetst. Dat was nooit de bedoeling. We gaan met bewoners in gesprek.",
        "Vanaf 1 juli gaan de servicekosten voor alle woningen in {hood} omhoog. Lees de brief die u deze week ontvangt.",
    ),
    ("nl", "burst_viral"): (
        "Kijk wat {org} ons stuurt na 3 maanden lekkage: een brief dat WIJ de schade moeten betalen. Deel dit alsjeblieft! #woonstad",
        "Mijn oma (89) zit al 2 weken zonder verwarming aan de {street} en {org} zegt 'geen spoed'. RT zodat ze het zien {handle}",
    ),
    ("en", "question"): (
        "{handle} my flight {flight} to {airport} is showing delayed, will I make my connection?",
        "Hi {handle}, can I bring a {bag} as cabin baggage on a European flight?",
        "{handle} how do I add my frequent flyer number to a booking made through a travel agent?",
        "{handle} is there wifi on the {airport} route? Need to work during the flight.",
        "Does {org} offer assistance for passengers with reduced mobility at AMS? My dad needs a wheelchair. {handle}",
    ),
    ("en", "complaint"): (
        "{handle} {hours} hours on the tarmac in AMS and no water offered. Flight {flight}. Unacceptable.",
        "Lost my {bag} on {flight} from {airport}. 5 days, no update, nobody answers the phone. {handle}",
        "{handle} cancelled {flight} at midnight and rebooked me 2 days later?? I have a wedding tomorrow.",
        "Still waiting for my refund from {org}, {weeks} weeks now. Case {ticket}. {handle}",
        "{handle} your app keeps crashing at check-in and now the desk charges me €{money}. Seriously?",
    ),
    ("en", "praise"): (
        "Shoutout to the crew on {flight} to {airport}, they made my kids' first flight amazing ✈️❤️ {handle}",
        "{handle} thanks for finding my {bag} so fast, delivered to my hotel the same night!",
        "Smoothest boarding ever at AMS today. Well done {org} 👏",
    ),
    ("en", "threat"): (
        "{handle} if my {bag} isn't back tomorrow I'll come to the airport and smash your desk. And the staff behind it.",
        "Someone at {org} is going to get hurt if I miss this wedding. I know where your office is {handle}.",
        "{handle} that gate agent on {flight} better watch her back next time I fly.",
    ),
    ("en", "spam"): (
        "💸 I made ${money} last week trading crypto from my phone! DM me or visit {url} {handle}",
        "{handle} FREE flight vouchers for the first 500 followers!!! Claim at {url}",
        "Get 1000 real followers in 24h ✅ {url} #travel #aviation",
    ),
    ("en", "political"): (
        "Airlines like {org} should pay proper tax on kerosene. Governments keep bailing them out. {handle}",
        "{handle} the government should ban short-haul flights. Take the train.",
        "Funny how {org} suddenly cares about climate when the subsidy vote is next week.",
    ),
    ("en", "impersonation"): (
        "We're sorry for your experience! To process your compensation of €{money}, please DM us your card number and booking code. - {org} Support",
        "Due to overbooking, {org} is giving away 2 free tickets. Follow us and fill in your details at {url}",
    ),
    ("en", "other"): (
        "Watching the {org} planes land at AMS from the rooftop, never gets old ✈️",
        "Anyone flown {org} business class to {airport}? Worth the upgrade?",
    ),
    ("en", "own"): (
        "Due to strong winds at AMS some flights may be delayed today. Check the app for your flight status.",
        "New route! From {day} we fly daily to {airport}.",
        "Travelling this weekend? Check in online up to 30 hours before departure.",
    ),
    ("en", "follow_up"): (
        "Still no reply {handle}...",
        "Sent you a DM with my booking code {handle}.",
        "Update: my {bag} has been found! Thanks.",
        "Day {days} and still nothing. Great service.",
    ),
    ("en", "chime_in"): (
        "Same thing happened to me last month.",
        "Never flying {org} again after this.",
        "Honestly they sorted mine out within a day, give them a chance.",
        "File an EU261 claim, you're entitled to compensation.",
    ),
    ("en", "abuse"): (
        "{org} is a joke of an airline. Bunch of clowns.",
        "Worst company ever, useless idiots.",
    ),
    ("en", "burst_own"): (
        "We are aware of the IT outage affecting check-in at AMS. Our teams are working on it. We apologise for the long queues.",
        "From next month a cabin bag costs €{money} on all European flights. Details on our website.",
    ),
    ("en", "burst_viral"): (
        "{org} left my 8-year-old alone at the gate for 3 hours. Please share. I want answers. {handle}",
        "Watch {org} staff throw my {bag} onto the tarmac from 3 metres high 🤬 {handle}",
    ),
}

TOP_LEVEL_KINDS = (
    ("question", 30),
    ("complaint", 25),
    ("praise", 12),
    ("other", 9),
    ("spam", 8),
    ("political", 6),
    ("threat", 3),
    ("own", 3),
    ("impersonation", 2),
)
REPLY_KINDS = (("follow_up", 45), ("chime_in", 42), ("abuse", 9), ("threat", 4))
BURST_KINDS = (("chime_in", 50), ("complaint", 25), ("abuse", 15), ("threat", 4), ("praise", 6))
DAYS_NL = ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag"]
DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


# --------------------------------------------------------------------------- plumbing


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # the normal approximation is accurate here and O(1)
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    total = sum(w for _, w in options)
    pick = rng.random() * total
    for name, weight in options:
        pick -= weight
        if pick < 0:
            return name
    return options[-1][0]


def _minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


class _Slot(NamedTuple):
    created_at: datetime
    external_id: str
    minute: int
    index: int
    burst: int | None  # the burst's start minute for a burst comment, else None
    burst_root: bool


class _Settings:
    def __init__(self, channel: ChannelConfig):
        s = channel.settings
        self.seed = str(s.get("seed", channel.id))
        self.tag = hashlib.sha1(self.seed.encode()).hexdigest()[:6]
        self.rate = float(s.get("rate_per_minute", 6))
        self.burst_chance = float(s.get("burst_chance", 0.01))
        mix = s.get("language_mix") or {"nl": 0.6, "en": 0.4}
        self.languages = tuple((lang, float(w)) for lang, w in mix.items() if lang in ORG and w)
        if not self.languages:
            raise ConnectorError("language_mix needs 'nl' and/or 'en'", transient=False)
        self.max_per_fetch = max(1, int(s.get("max_per_fetch", 5000)))
        self.backlog = timedelta(minutes=float(s.get("backlog_minutes", 10)))
        own = [h for h in channel.own_handles if h]
        self.handles = {
            "nl": s.get("handle_nl") or (own[0] if own else DEFAULT_HANDLE["nl"]),
            "en": s.get("handle_en") or (own[1] if len(own) > 1 else DEFAULT_HANDLE["en"]),
        }


class _Vars(dict[str, Any]):
    """Template variables drawn on first use: a template only pays for what it names, and
    the draws stay deterministic because a template always names them in the same order."""

    def __init__(self, rng: random.Random, lang: str, handle: str):
        super().__init__(org=ORG[lang], handle=handle)
        self.rng, self.lang = rng, lang

    def __missing__(self, key: str) -> Any:
        rng, nl = self.rng, self.lang == "nl"
        draw: dict[str, Any] = {
            "street": lambda: rng.choice(STREETS),
            "num": lambda: f"{rng.randint(1, 240)}{rng.choice(['', '', 'A', 'B', '-2'])}",
            "hood": lambda: rng.choice(NEIGHBOURHOODS),
            "appliance": lambda: rng.choice(APPLIANCES),
            "defect": lambda: rng.choice(DEFECTS),
            "days": lambda: rng.randint(2, 21),
            "weeks": lambda: rng.randint(3, 14),
            "hours": lambda: rng.randint(2, 6),
            "hour": lambda: rng.randint(13, 17),
            "pct": lambda: rng.choice(["4,5", "5", "5,5", "6,1", "7"]),
            "ticket": lambda: f"{'M' if nl else 'CAS-'}{rng.randint(100000, 999999)}",
            "money": lambda: rng.choice([50, 150, 250, 350, 500, 750, 1200]),
            "url": lambda: rng.choice(SPAM_URLS),
            "party": lambda: rng.choice(PARTIES_NL),
            "flight": lambda: f"NS{rng.randint(100, 1999)}",
            "airport": lambda: rng.choice(AIRPORTS),
            "bag": lambda: rng.choice(BAG_ITEMS),
            "day": lambda: rng.choice(DAYS_NL if nl else DAYS_EN),
            "tagged": lambda: rng.choice(["gemeenterotterdam", "huurcommissie", "rtvrijnmond"]),
        }
        value = self[key] = draw[key]()
        return value


# Endings people add, so the same template does not read as a copy: (language, kind).
TAILS: dict[tuple[str, str], tuple[str, ...]] = {
    ("nl", "question"): (
        "",
        "",
        "",
        " Alvast bedankt!",
        " Groetjes",
        " 🙏",
        " Graag snel antwoord.",
    ),
    ("nl", "complaint"): (
        "",
        "",
        " 😡",
        " Graag een reactie.",
        " #woonstad",
        " Echt klaar mee.",
        " Schaam je!",
    ),
    ("nl", "praise"): ("", "", " 👍", " Zo kan het dus ook!", " ❤️"),
    ("nl", "follow_up"): ("", "", " 😤", " ??", " Reageer nou eens."),
    ("nl", "chime_in"): ("", "", " 🙄", " Schandalig.", " Typisch.", " #woonstad"),
    ("en", "question"): ("", "", "", " Thanks!", " Cheers", " 🙏"),
    ("en", "complaint"): ("", "", " 😡", " #neveragain", " Disgraceful.", " Please respond."),
    ("en", "praise"): ("", "", " 👏", " 10/10", " ❤️"),
    ("en", "follow_up"): ("", "", " 🙄", " ??"),
    ("en", "chime_in"): ("", "", " 🤦", " #neveragain", " Shocking."),
}


class SimulatorConnector:
    can_reply = True
    can_reply_privately = True
    can_hide = True
    max_length: int | None = None

    # Replies and hides of this process (the simulator is the platform). Bounded: a demo
    # running for weeks must not grow without limit.
    _posted: OrderedDict[str, None] = OrderedDict()
    _hidden: dict[str, bool] = {}
    _MEMORY = 50_000
    # The sorted slots of recent minutes. A minute's plan is a pure function of the settings
    # and the minute, and at 30,000 a minute rebuilding it on every one-second poll cost
    # more CPU than ingesting the messages; a poll now only pays for the slots it returns.
    _minute_plans: OrderedDict[tuple[Any, ...], list[_Slot]] = OrderedDict()
    _PLANS_KEPT = 4

    # ---- the deterministic plan

    def _rng(self, cfg: _Settings, *parts: object) -> random.Random:
        return random.Random("|".join([cfg.seed, *map(str, parts)]))

    def _message_rng(self, cfg: _Settings, minute: int, index: int) -> tuple[random.Random, int]:
        """A message's own generator and its first draw, the microsecond within its minute.

        Each message draws its own time, so a reply can name and date a parent in an
        earlier minute without generating that whole minute (at 30,000 a minute that
        would be quadratic).
        """
        rng = self._rng(cfg, minute, index)
        return rng, rng.randrange(60_000_000)

    def _normal_slot(self, cfg: _Settings, minute: int, index: int) -> _Slot:
        _, offset = self._message_rng(cfg, minute, index)
        return _Slot(
            _minute_start(minute) + timedelta(microseconds=offset),
            f"sim-{cfg.tag}-{minute}-{index}",
            minute,
            index,
            None,
            False,
        )

    def _minute_count(self, cfg: _Settings, minute: int) -> int:
        return _poisson(self._rng(cfg, "m", minute), cfg.rate)

    def _burst(self, cfg: _Settings, start: int) -> tuple[int, float] | None:
        """(duration in minutes, comments per minute) if a burst starts in this minute."""
        if cfg.burst_chance <= 0:
            return None
        rng = self._rng(cfg, "b", start)
        if rng.random() >= cfg.burst_chance:
            return None
        duration = rng.randint(3, BURST_MAX_MINUTES)
        return duration, rng.randint(150, 900) / duration

    def _slots(self, cfg: _Settings, minute: int) -> list[_Slot]:
        key = (cfg.seed, cfg.rate, cfg.burst_chance, minute)
        plans = type(self)._minute_plans
        slots = plans.get(key)
        if slots is None:
            slots = plans[key] = self._plan_minute(cfg, minute)
            while len(plans) > self._PLANS_KEPT:
                plans.popitem(last=False)
        return slots

    def _plan_minute(self, cfg: _Settings, minute: int) -> list[_Slot]:
        start = _minute_start(minute)
        slots = [self._normal_slot(cfg, minute, i) for i in range(self._minute_count(cfg, minute))]
        for age in range(BURST_MAX_MINUTES):
            burst_start = minute - age
            burst = self._burst(cfg, burst_start)
            if burst is None or age >= burst[0]:
                continue
            if age == 0:
                slots.append(
                    _Slot(start, f"sim-{cfg.tag}-b{burst_start}", minute, 0, burst_start, True)
                )
            rng = self._rng(cfg, "bm", burst_start, age)
            offsets = sorted(rng.randrange(1, 60_000_000) for _ in range(_poisson(rng, burst[1])))
            slots.extend(
                _Slot(
                    start + timedelta(microseconds=o),
                    f"sim-{cfg.tag}-b{burst_start}-{age}-{i}",
                    minute,
                    i,
                    burst_start,
                    False,
                )
                for i, o in enumerate(offsets)
            )
        slots.sort(key=lambda s: (s.created_at, s.external_id))
        return slots

    def _is_top_level(self, cfg: _Settings, minute: int, index: int) -> bool:
        rng, _ = self._message_rng(cfg, minute, index)
        return rng.random() >= REPLY_SHARE

    # ---- fetch

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        """Messages with (created_at, id) after the cursor and created_at <= now, oldest first."""
        cfg = _Settings(channel)
        now = timezone.now()
        floor = now - cfg.backlog
        after: tuple[datetime, str] | None = None
        try:
            if cursor.get("last_time"):
                after = (
                    datetime.fromisoformat(cursor["last_time"]),
                    str(cursor.get("last_id", "")),
                )
        except (TypeError, ValueError):
            after = None  # a damaged cursor: start over from the backlog (ids make it harmless)
        if after is None or after[0] < floor:
            # A first poll, or a poll after a long outage: the simulator only keeps a backlog.
            after = (floor, "")
        messages: list[IncomingMessage] = []
        position = after
        for slot in self._slots_between(cfg, after, now):
            if len(messages) >= cfg.max_per_fetch:
                break
            messages.append(self._message(cfg, slot))
            position = (slot.created_at, slot.external_id)
        if not messages and now > position[0]:
            position = (now, "")  # everything up to now was scanned and nothing was there
        return FetchResult(
            messages=messages,
            cursor={"last_time": position[0].isoformat(), "last_id": position[1]},
        )

    def _slots_between(
        self, cfg: _Settings, after: tuple[datetime, str], now: datetime
    ) -> Iterator[_Slot]:
        minute = math.floor(after[0].timestamp() / 60)
        last_minute = math.floor(now.timestamp() / 60)
        while minute <= last_minute:
            slots = self._slots(cfg, minute)
            # Sorted by (created_at, external_id): skip what the cursor has seen by bisection.
            first = bisect.bisect_right(slots, after, key=lambda s: (s.created_at, s.external_id))
            for slot in itertools.islice(slots, first, None):
                if slot.created_at > now:
                    return
                yield slot
            minute += 1

    # ---- one message

    def _author(self, cfg: _Settings, lang: str, index: int) -> dict[str, str]:
        rng = self._rng(cfg, "a", lang, index)
        if lang == "nl":
            first, last = rng.choice(FIRST_NL), rng.choice(LAST_NL)
        else:
            first, last = rng.choice(FIRST_EN), rng.choice(LAST_EN)
        style = rng.randrange(4)
        base = (first + last.split()[-1]).lower().replace("'", "")
        handle = {
            0: f"@{base}",
            1: f"@{first.lower()}_{rng.randint(70, 99)}",
            2: f"@{base}{rng.randint(1, 999)}",
            3: f"@{first[0].lower()}{last.split()[-1].lower().replace(chr(39), '')}",
        }[style]
        return {
            "author_id": f"simuser-{cfg.tag}-{lang}-{index}",
            "author_handle": handle,
            "author_name": f"{first} {last}",
        }

    def _language(self, cfg: _Settings, rng: random.Random) -> str:
        return _weighted(rng, cfg.languages)

    def _message(self, cfg: _Settings, slot: _Slot) -> IncomingMessage:
        if slot.burst is not None:
            return self._burst_message(cfg, slot)
        rng, _ = self._message_rng(cfg, slot.minute, slot.index)
        is_reply = rng.random() < REPLY_SHARE  # the same draw as _is_top_level
        parent: IncomingMessage | None = None
        if is_reply:
            parent = self._pick_parent(cfg, rng, slot.minute)
        if parent is not None:
            lang = parent.raw["lang"]
            kind = _weighted(rng, REPLY_KINDS)
            if parent.is_own and kind == "follow_up":
                kind = "chime_in"  # nobody "follows up" on our own announcement
            author = (
                {k: getattr(parent, k) for k in ("author_id", "author_handle", "author_name")}
                if kind == "follow_up"
                else self._author(cfg, lang, rng.randrange(AUTHOR_POOL))
            )
            return self._build(cfg, rng, slot, lang, kind, author, parent=parent)
        lang = self._language(cfg, rng)
        kind = _weighted(rng, TOP_LEVEL_KINDS)
        return self._build(cfg, rng, slot, lang, kind, self._kind_author(cfg, rng, lang, kind))

    def _kind_author(
        self, cfg: _Settings, rng: random.Random, lang: str, kind: str
    ) -> dict[str, str]:
        if kind == "own":
            return {
                "author_id": f"simown-{cfg.tag}-{lang}",
                "author_handle": cfg.handles[lang],
                "author_name": ORG[lang],
            }
        if kind == "impersonation":
            handle, name = rng.choice(IMPERSONATORS[lang])
            return {
                "author_id": f"simfake-{cfg.tag}-{handle.lstrip('@').lower()}",
                "author_handle": handle,
                "author_name": name,
            }
        return self._author(cfg, lang, rng.randrange(AUTHOR_POOL))

    def _pick_parent(
        self, cfg: _Settings, rng: random.Random, minute: int
    ) -> IncomingMessage | None:
        """A top-level post from the last REPLY_LOOKBACK_MINUTES, or None (then top-level)."""
        for _ in range(3):
            earlier = minute - rng.randint(1, REPLY_LOOKBACK_MINUTES)
            count = self._minute_count(cfg, earlier)
            if not count:
                continue
            index = rng.randrange(count)
            if not self._is_top_level(cfg, earlier, index):
                continue
            slot = self._normal_slot(cfg, earlier, index)
            parent = self._message(cfg, slot)
            if parent.raw["kind"] != "spam":  # nobody answers spam
                return parent
        return None

    def _burst_message(self, cfg: _Settings, slot: _Slot) -> IncomingMessage:
        assert slot.burst is not None
        root_rng = self._rng(cfg, "br", slot.burst)
        lang = self._language(cfg, root_rng)
        ours = root_rng.random() < 0.5  # our own unlucky letter, or a customer's viral post
        root_author = (
            self._kind_author(cfg, root_rng, lang, "own")
            if ours
            else self._author(cfg, lang, root_rng.randrange(AUTHOR_POOL))
        )
        root_slot = _Slot(
            _minute_start(slot.burst),
            f"sim-{cfg.tag}-b{slot.burst}",
            slot.burst,
            0,
            slot.burst,
            True,
        )
        kind = "burst_own" if ours else "burst_viral"
        root = self._build(cfg, root_rng, root_slot, lang, kind, root_author, own=ours)
        if slot.burst_root:
            return root
        return self._burst_comment(cfg, slot, lang, root)

    def _burst_comment(
        self, cfg: _Settings, slot: _Slot, lang: str, root: IncomingMessage
    ) -> IncomingMessage:
        rng = self._rng(cfg, slot.external_id)
        kind = _weighted(rng, BURST_KINDS)
        if kind == "chime_in" and not root.is_own and rng.random() < 0.3:
            kind = "complaint"  # piling on under a customer's viral post
        author = self._author(cfg, lang, rng.randrange(AUTHOR_POOL))
        return self._build(cfg, rng, slot, lang, kind, author, parent=root)

    def staged_burst(
        self,
        channel: ChannelConfig,
        *,
        start: datetime,
        minutes: int,
        per_minute: float,
        lang: str = "nl",
    ) -> list[IncomingMessage]:
        """A burst like the live stream's, under our own unlucky post, at a moment the caller
        picks (the demo's history stages one): the post at `start`, then about per_minute
        comments a minute for `minutes` minutes. Deterministic in (seed, start)."""
        cfg = _Settings(channel)
        first = math.floor(start.timestamp() / 60)
        rng = self._rng(cfg, "staged", first)
        root_slot = _Slot(_minute_start(first), f"sim-{cfg.tag}-s{first}", first, 0, first, True)
        author = self._kind_author(cfg, rng, lang, "own")
        root = self._build(cfg, rng, root_slot, lang, "burst_own", author, own=True)
        out = [root]
        for age in range(minutes):
            minute_rng = self._rng(cfg, "staged", first, age)
            count = _poisson(minute_rng, per_minute)
            offsets = sorted(minute_rng.randrange(1, 60_000_000) for _ in range(count))
            for index, offset in enumerate(offsets):
                slot = _Slot(
                    _minute_start(first + age) + timedelta(microseconds=offset),
                    f"sim-{cfg.tag}-s{first}-{age}-{index}",
                    first + age,
                    index,
                    first,
                    False,
                )
                out.append(self._burst_comment(cfg, slot, lang, root))
        return out

    def _build(
        self,
        cfg: _Settings,
        rng: random.Random,
        slot: _Slot,
        lang: str,
        kind: str,
        author: dict[str, str],
        *,
        parent: IncomingMessage | None = None,
        own: bool | None = None,
    ) -> IncomingMessage:
        template = rng.choice(TEMPLATES[(lang, kind)])
        text = template.format_map(_Vars(rng, lang, cfg.handles[lang]))
        text += rng.choice(TAILS.get((lang, kind), ("",)))
        is_own = kind == "own" if own is None else own
        handle = author["author_handle"].lstrip("@")
        # A few questions arrive as direct messages.
        is_public = not (kind == "question" and rng.random() < 0.1)
        return IncomingMessage(
            external_id=slot.external_id,
            text=text,
            created_at=slot.created_at,
            author_id=author["author_id"],
            author_handle=author["author_handle"],
            author_name=author["author_name"],
            author_avatar_url=f"{BASE_URL}/avatar/{author['author_id']}.png",
            author_profile_url=f"{BASE_URL}/{handle}",
            parent_external_id=parent.external_id if parent else "",
            conversation_external_id=(
                parent.conversation_external_id if parent else slot.external_id
            ),
            url=f"{BASE_URL}/{handle}/status/{slot.external_id}",
            is_public=is_public,
            is_own=is_own,
            raw={
                "simulated": True,
                "kind": kind,
                "lang": lang,
                "burst": slot.burst,
            },
        )

    # ---- replies

    @staticmethod
    def reply_id(channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        """Deterministic: a retried attempt gets the same id, so a second post is harmless."""
        basis = "\x1f".join(
            [
                str(channel.id),
                str(target.conversation_id),
                target.in_reply_to_external_id,
                str(target.extra.get("idempotency_key", "")),
                "dm" if target.private else "public",
                text,
            ]
        )
        return "simreply-" + hashlib.sha256(basis.encode()).hexdigest()[:24]

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        if not text.strip():
            raise ConnectorError("Empty reply", transient=False)
        external_id = self.reply_id(channel, target, text)
        posted = type(self)._posted
        posted[external_id] = None
        posted.move_to_end(external_id)
        while len(posted) > self._MEMORY:
            posted.popitem(last=False)
        return external_id

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """The id if this process posted it. Another process answers None, and the retry
        that follows posts the same deterministic id again: still one reply."""
        external_id = self.reply_id(channel, target, text)
        return external_id if external_id in type(self)._posted else None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        type(self)._hidden[external_id] = hidden
