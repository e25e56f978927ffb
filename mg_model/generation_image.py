"""Reasoning generation (docs/official_code.md#reasoning-generation): the ``<GEN>`` trigger, the ``<h>...</h>`` prompt, the SDXL hand-off.

With generation on, the official CLI appends the plain text ``" <GEN>"`` to the user message; the model
answers with an image prompt enclosed in ``<h>`` ... ``</h>`` (plain text too), which is handed to
Stable Diffusion XL with a fixed negative prompt.

Two extraction variants exist in the official code:

* ``which="last"`` (default, ``mgm/serve/cli.py``): the **last** complete span,
  ``answer.split("</h>")[-2].split("<h>")[-1]``.
* ``which="first"`` (``mgm/serve/model_worker.py``, the gradio demo): the text after the **first** ``<h>``
  up to the next ``</h>`` (``answer.split("<h>")[1].split("</h>")[0]``); the demo also
  shows ``text before <h>`` + ``"\\nPrompt: {prompt}\\n"`` instead of the raw answer (:func:`display_text`).

The SDXL part needs the optional ``gen`` extra (``pip install mini-gemini-eval[gen]``, i.e. diffusers) and
a local pipeline directory; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MGMInputError

GEN_TRIGGER = " <GEN>"
PROMPT_OPEN, PROMPT_CLOSE = "<h>", "</h>"

# The official negative prompt (mgm/serve/cli.py and model_worker.py), verbatim.
NEGATIVE_PROMPT = (
    "out of frame, lowres, text, error, cropped, worst quality, low quality, jpeg artifacts, ugly, duplicate, "
    "morbid, mutilated, out of frame, extra fingers, mutated hands, poorly drawn hands, poorly drawn face, "
    "mutation, deformed, blurry, dehydrated, bad anatomy, bad proportions, extra limbs, cloned face, "
    "disfigured, gross proportions, malformed limbs, missing arms, missing legs, extra arms, extra legs, "
    "fused fingers, too many fingers, long neck, username, watermark, signature"
)


def add_gen_trigger(text: str) -> str:
    """Append the generation trigger to a user message (CLI behaviour): ``text + " <GEN>"``."""
    return text + GEN_TRIGGER


def extract_image_prompt(answer: str, which: str = "last") -> str | None:
    """The image prompt inside ``<h>...</h>`` of a model answer, or ``None`` when there is no complete span.

    Args:
        answer: decoded model output.
        which: ``last`` (CLI) or ``first`` (gradio worker).

    Returns:
        The text between the tags, unmodified (no stripping, as the official code).
    """
    if which not in ("last", "first"):
        raise MGMInputError(f"which={which!r}: use 'last' (CLI) or 'first' (gradio worker)")
    if PROMPT_OPEN not in answer or PROMPT_CLOSE not in answer:
        return None
    if which == "last":
        return answer.split(PROMPT_CLOSE)[-2].split(PROMPT_OPEN)[-1]
    return answer.split(PROMPT_OPEN)[1].split(PROMPT_CLOSE)[0]


def display_text(answer: str) -> str:
    """What the gradio demo shows for a generation answer: text before ``<h>`` + ``"\\nPrompt: {prompt}\\n"``.

    Answers without a complete ``<h>...</h>`` span are returned unchanged.
    """
    prompt = extract_image_prompt(answer, which="first")
    if prompt is None:
        return answer
    return answer.split(PROMPT_OPEN, 1)[0] + f"\nPrompt: {prompt}\n"


@dataclass
class ImageGenerator:
    """Hands MGM image prompts to a diffusers ``StableDiffusionXLPipeline`` (the official SDXL base set-up).

    Attributes:
        pipeline: a loaded ``StableDiffusionXLPipeline`` (or any callable with the same signature).
        negative_prompt: the official negative prompt unless replaced.
    """

    pipeline: Any
    negative_prompt: str = NEGATIVE_PROMPT

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, torch_dtype: Any = None, device: str | None = None, **kwargs: Any
    ) -> ImageGenerator:
        """Load an SDXL pipeline from a local directory (diffusers layout; the official one is SDXL base 1.0).

        Args:
            path: local pipeline directory (``model_index.json``, unet/, vae/, text_encoder{,_2}/, ...).
            torch_dtype: weights dtype (the official code uses float16 on GPU).
            device: where to move the pipeline (``cuda``, ``cpu``); left in place when None.
            kwargs: passed on to ``StableDiffusionXLPipeline.from_pretrained`` (e.g. ``variant="fp16"``).
        """
        try:
            from diffusers import StableDiffusionXLPipeline
        except ImportError as err:  # pragma: no cover - depends on the optional extra
            raise ImportError(
                "image generation needs diffusers: pip install 'mini-gemini-eval[gen]'"
            ) from err
        path = Path(path)
        if not (path / "model_index.json").is_file():
            raise MGMInputError(
                f"{path} is not a diffusers pipeline directory (no model_index.json); download "
                "stabilityai/stable-diffusion-xl-base-1.0 there first"
            )
        if torch_dtype is not None:
            kwargs["torch_dtype"] = torch_dtype
        pipeline = StableDiffusionXLPipeline.from_pretrained(str(path), **kwargs)
        if device is not None:
            pipeline = pipeline.to(device)
        return cls(pipeline)

    def __call__(self, prompt: str, **kwargs: Any) -> Any:
        """Generate one image for ``prompt`` with the negative prompt; other pipeline arguments default.

        Returns:
            The first image of the pipeline output (a PIL image with the default ``output_type``).
        """
        if not prompt or not prompt.strip():
            raise MGMInputError("empty image prompt: the answer had no text inside <h>...</h>")
        return self.pipeline(prompt, negative_prompt=self.negative_prompt, **kwargs).images[0]

    def from_answer(self, answer: str, which: str = "last", **kwargs: Any) -> tuple[str | None, Any]:
        """Extract the ``<h>`` prompt of a model answer and generate from it.

        Returns:
            (prompt, image); ``(None, None)`` when the answer holds no complete ``<h>...</h>`` span.
        """
        prompt = extract_image_prompt(answer, which)
        if prompt is None:
            return None, None
        return prompt, self(prompt, **kwargs)
