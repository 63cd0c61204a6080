"""Display labels: every domain key has an English and a Chinese label; keys stay keys.

The keys come from ``constants.py`` (the documented contract), not from kamsim, so a stage,
pool, exit reason or KPI added without labels fails here.
"""

from __future__ import annotations

import string
import unicodedata

import pytest
from constants import (
    CANCELLED,
    KPI_COLUMNS,
    MECHANISM_EXIT_REASONS,
    OUTCOMES,
    POOLS,
    STAGE_EXIT_REASONS,
    STAGES,
)

import kamsim
from kamsim import labels
from kamsim.labels import LANGS, label

KPIS = KPI_COLUMNS[2:]  # after replication and seed
EXITS = (*STAGE_EXIT_REASONS.values(), CANCELLED, *MECHANISM_EXIT_REASONS)
DOMAIN = (*STAGES, *POOLS, *EXITS, *OUTCOMES, *KPIS)
STAGES_ZH = ("客户开发", "立项", "提案", "招投标", "商务谈判", "工程实施")
"""The stages' Chinese names as DOMAIN.md writes them."""


def _has_cjk(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CJK") for c in text)


def test_the_languages_are_english_and_chinese() -> None:
    assert LANGS == ("en", "zh")
    assert kamsim.LANGS == LANGS
    assert kamsim.label is label


@pytest.mark.parametrize("key", DOMAIN)
def test_every_domain_key_has_a_label_in_both_languages(key: str) -> None:
    en, zh = label(key, "en"), label(key, "zh")
    assert en != key and en.strip(), f"{key}: no English label"
    assert not _has_cjk(en), f"{key}: English label {en!r} has Chinese characters"
    assert _has_cjk(zh), f"{key}: Chinese label {zh!r} has no Chinese characters"
    assert label(key) == en  # English by default


def test_the_stages_carry_the_domains_chinese_names() -> None:
    assert tuple(label(s, "zh") for s in STAGES) == STAGES_ZH


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "group", [STAGES, POOLS, EXITS, KPIS], ids=["stage", "pool", "exit", "kpi"]
)
def test_labels_of_one_kind_are_distinct(group: tuple[str, ...], lang: str) -> None:
    shown = [label(k, lang) for k in group]
    assert len(set(shown)) == len(shown), shown


@pytest.mark.parametrize("lang", LANGS)
def test_an_unknown_key_shows_as_itself(lang: str) -> None:
    assert label("price_war", lang) == "price_war"  # e.g. a scenario's own exit reason


@pytest.mark.parametrize("lang", ["fr", "EN", "", "zh-CN"])
def test_a_bad_language_is_refused_naming_the_allowed_ones(lang: str) -> None:
    with pytest.raises(ValueError, match="lang") as caught:
        label("tender", lang)
    assert "'en'" in str(caught.value) and "'zh'" in str(caught.value)


def test_templates_have_the_same_fields_in_both_languages() -> None:
    """A plot fills a template's fields by name; a field missing in one language would
    raise there only."""
    checked = 0
    for key, texts in labels._TEXT.items():
        fields = [
            {name for _, name, _, _ in string.Formatter().parse(text) if name} for text in texts
        ]
        assert fields[0] == fields[1], f"{key}: {fields}"
        checked += bool(fields[0])
    assert checked >= 10
