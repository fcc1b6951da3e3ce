"""Spelling correction: the shortcut that rules words out without an edit distance agrees with
the plain computation."""

from hypothesis import given, settings
from hypothesis import strategies as st

from emporium.search.query import _word_edits_within, correct_terms, word_edits

words = st.text(alphabet="abcdejkt0123", min_size=1, max_size=9)


@settings(max_examples=500, deadline=None)
@given(term=words, word=words, limit=st.integers(min_value=0, max_value=2))
def test_bounded_word_edits_agree_with_word_edits(term, word, limit):
    edits = word_edits(term, word)
    assert _word_edits_within(term, word, limit) == (edits if edits <= limit else None)


def test_correction_picks_the_closest_then_commonest_word():
    texts = ["Navy Jacket 12", "Olive Jacket 13", "Navy Packet 14", "SKU-0000012"]
    assert correct_terms(["jakcet"], texts) == ["jacket"]
    assert correct_terms(["pakcet", "navy"], texts) == ["packet", "navy"]
    assert correct_terms(["zzzzzz"], texts) == ["zzzzzz"]
    assert correct_terms(["1234"], texts) == ["1234"]  # numbers are not corrected
