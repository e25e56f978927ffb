"""TextVQA accuracy exactly as the official LLaVA/MGM scorer (M4C ``EvalAIAnswerProcessor``) computes it.

The normaliser reproduces the official code step by step, quirks included:

* step 1 deletes every ``,`` and ``?`` and splits ``'s`` into `` 's``;
* punctuation is deleted when it touches a space in the *input* string, else replaced by a space;
* the period pattern ``(?!<=\\d)(\\.)(?!\\d)`` was meant as a look-behind but is a look-ahead for the
  literal ``<=``, so it removes every ``.`` not followed by a digit, and ``re.UNICODE`` (= 32) was passed
  as the ``count`` argument, so at most 32 periods are removed;
* the contraction table has keys that can never match after lower-casing (``Im``, ``Ive``) and one
  reversed entry (``somebody'd`` -> ``somebodyd``).

Per question: the prediction's score is the mean over the 10 leave-one-out subsets of the human answers of
``min(1, matches / 3)``; the dataset score is the plain mean (LLaVA prints it x100).

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "prediction": str, "normalized_prediction": str, "gt_answers": [10 str], "score": float}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from mg_eval.errors import DataError

__all__ = [
    "normalize_answer",
    "answer_scores",
    "score_prediction",
    "process_result",
    "aggregate",
    "NUM_HUMAN_ANSWERS",
]

NUM_HUMAN_ANSWERS = 10

# Contractions as the official table spells them (data, not code; keys with capitals never match).
_CONTRACTIONS: dict[str, str] = dict(
    pair.split("=", 1)
    for pair in (
        "aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn't've "
        "couldnt've=couldn't've didnt=didn't doesnt=doesn't dont=don't hadnt=hadn't hadnt've=hadn't've "
        "hadn'tve=hadn't've hasnt=hasn't havent=haven't hed=he'd hed've=he'd've he'dve=he'd've hes=he's "
        "howd=how'd howll=how'll hows=how's Id've=I'd've I'dve=I'd've Im=I'm Ive=I've isnt=isn't itd=it'd "
        "itd've=it'd've it'dve=it'd've itll=it'll let's=let's maam=ma'am mightnt=mightn't "
        "mightnt've=mightn't've mightn'tve=mightn't've mightve=might've mustnt=mustn't mustve=must've "
        "neednt=needn't notve=not've oclock=o'clock oughtnt=oughtn't ow's'at='ow's'at 'ows'at='ow's'at "
        "'ow'sat='ow's'at shant=shan't shed've=she'd've she'dve=she'd've she's=she's shouldve=should've "
        "shouldnt=shouldn't shouldnt've=shouldn't've shouldn'tve=shouldn't've somebody'd=somebodyd "
        "somebodyd've=somebody'd've somebody'dve=somebody'd've somebodyll=somebody'll "
        "somebodys=somebody's someoned=someone'd someoned've=someone'd've someone'dve=someone'd've "
        "someonell=someone'll someones=someone's somethingd=something'd somethingd've=something'd've "
        "something'dve=something'd've somethingll=something'll thats=that's thered=there'd "
        "thered've=there'd've there'dve=there'd've therere=there're theres=there's theyd=they'd "
        "theyd've=they'd've they'dve=they'd've theyll=they'll theyre=they're theyve=they've twas='twas "
        "wasnt=wasn't wed've=we'd've we'dve=we'd've weve=we've werent=weren't whatll=what'll "
        "whatre=what're whats=what's whatve=what've whens=when's whered=where'd wheres=where's "
        "whereve=where've whod=who'd whod've=who'd've who'dve=who'd've wholl=who'll whos=who's "
        "whove=who've whyll=why'll whyre=why're whys=why's wont=won't wouldve=would've wouldnt=wouldn't "
        "wouldnt've=wouldn't've wouldn'tve=wouldn't've yall=y'all yall'll=y'all'll y'allll=y'all'll "
        "yall'd've=y'all'd've y'alld've=y'all'd've y'all'dve=y'all'd've youd=you'd youd've=you'd've "
        "you'dve=you'd've youll=you'll youre=you're youve=you've"
    ).split()
)
_NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
_ARTICLES = frozenset({"a", "an", "the"})
# The official list and order of punctuation handled one by one.
_PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
                ",", "?", "!")
# Official pattern, broken look-behind kept on purpose (see module docstring).
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(?<=\d)(\,)+(?=\d)")
_PERIOD_REMOVAL_CAP = int(re.UNICODE)  # the official code passes re.UNICODE (32) as `count`


def _tokenize(text: str) -> str:
    return text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()


def _process_punctuation(text: str) -> str:
    has_digit_comma = _COMMA_STRIP.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        touches_space = (mark + " ") in text or (" " + mark) in text
        out = out.replace(mark, "" if touches_space or has_digit_comma else " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_REMOVAL_CAP)


def _process_digits_and_articles(text: str) -> str:
    words = [_NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in _ARTICLES]
    return " ".join(_CONTRACTIONS.get(word, word) for word in words)


def normalize_answer(text: str) -> str:
    """Normalise one answer string exactly as the official M4C ``EvalAIAnswerProcessor`` does.

    Example: ``"The Coca-Cola"`` -> ``"coca cola"``; ``"Joe's Diner!"`` -> ``"joe 's diner"``.
    """
    text = _tokenize(text)
    text = text.replace("\n", " ").replace("\t", " ").strip()
    text = _process_punctuation(text)
    return _process_digits_and_articles(text)


def answer_scores(gt_answers: Sequence[str], *, require_ten: bool = True) -> dict[str, float]:
    """Soft score of every distinct normalised human answer (official leave-one-out average).

    Args:
        gt_answers: the human answers of one question (10 in TextVQA).
        require_ten: raise :class:`DataError` unless there are exactly 10 (the official code asserts it).
    Returns:
        ``{normalised answer: score in [0, 1]}``; a prediction equal to none of them scores 0.
    """
    if require_ten and len(gt_answers) != NUM_HUMAN_ANSWERS:
        raise DataError(
            f"TextVQA needs exactly {NUM_HUMAN_ANSWERS} human answers per question, got {len(gt_answers)}: "
            f"{list(gt_answers)!r}. Use the official annotation file (TextVQA_0.5.1_val.json)."
        )
    normalized = [normalize_answer(answer) for answer in gt_answers]
    scores: dict[str, float] = {}
    for candidate in set(normalized):
        per_subset = []
        for left_out in range(len(normalized)):
            matches = sum(1 for i, answer in enumerate(normalized) if i != left_out and answer == candidate)
            per_subset.append(min(1, float(matches) / 3))
        scores[candidate] = sum(per_subset) / len(per_subset)
    return scores


def score_prediction(prediction: str, gt_answers: Sequence[str], *, require_ten: bool = True) -> float:
    """VQA accuracy of one prediction against its human answers: 0, 0.3, 0.6, 0.9 or 1.0."""
    return answer_scores(gt_answers, require_ten=require_ten).get(normalize_answer(prediction), 0.0)


def process_result(
    doc_id: str, prediction: str, gt_answers: Sequence[str], *, require_ten: bool = True
) -> dict:
    """Per-sample record for one TextVQA question (see the module docstring for the fields)."""
    return {
        "doc_id": str(doc_id),
        "prediction": prediction,
        "normalized_prediction": normalize_answer(prediction),
        "gt_answers": list(gt_answers),
        "score": score_prediction(prediction, gt_answers, require_ten=require_ten),
    }


def aggregate(records: Iterable[Mapping]) -> dict:
    """Dataset score from per-sample records.

    Returns:
        ``{"accuracy": 100 * mean score, "accuracy_fraction": mean score, "n_samples": int}``.
        The fraction is the official ``eval_pred_list`` value bit for bit.
    """
    scores = [float(record["score"]) for record in records]
    if not scores:
        raise DataError("TextVQA: no records to aggregate.")
    fraction = sum(scores) / len(scores)
    return {"accuracy": 100.0 * fraction, "accuracy_fraction": fraction, "n_samples": len(scores)}
