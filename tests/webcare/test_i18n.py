import re
from pathlib import Path

PO = Path(__file__).resolve().parents[2] / "locale/nl/LC_MESSAGES/django.po"


def _entries():
    blocks = PO.read_text(encoding="utf-8").split("\n\n")
    for block in blocks[1:]:  # the header comes first
        if block.lstrip().startswith("#~"):
            continue  # obsolete
        yield block


def test_dutch_translation_is_complete():
    untranslated = []
    for block in _entries():
        msgid = re.search(r'^msgid "(.*)"', block, re.M)
        if "#, fuzzy" in block:
            untranslated.append(("fuzzy", msgid.group(1) if msgid else block[:60]))
        for match in re.finditer(r'^(msgstr(?:\[\d\])?) ((?:".*"\n?)+)', block, re.M):
            if re.fullmatch(r'""\n?', match.group(2)):
                untranslated.append(("empty", msgid.group(1) if msgid else block[:60]))
    assert not untranslated, f"{len(untranslated)} Dutch strings missing: {untranslated[:10]}"
