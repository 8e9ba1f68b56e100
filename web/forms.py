"""The upload form of the home page: fields and presets; its parameters are checked by the one
parameter model (`QuantizeParams`), as the API's are."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import ValidationError

from kcolors.engine.params import QuantizeParams, field_rule
from kcolors.errors import InvalidParameter

# Each preset's value is the comma-separated k list sent to the job.
K_PRESETS = (
    SelectChoice("2,5,10,15,24", "2, 5, 10, 15, 24 (the article's choice)"),
    SelectChoice("2,4,8,16", "2, 4, 8, 16 (1 to 4 bits per pixel)"),
    SelectChoice("8,16,32,64", "8, 16, 32, 64"),
    SelectChoice("64,128,256", "64, 128, 256 (near-photographic)"),
)
CUSTOM = "custom"
AUTO = "auto"
DEFAULT_TARGET_PSNR_DB = "35"


class QuantizeForm(FlaskForm):
    """How to quantize (k values or a target quality, and the options), as a job and a batch
    ask it; CSRF-protected by Flask-WTF."""

    k_choice = RadioField(
        "Colours (k)",
        choices=[
            *K_PRESETS,
            SelectChoice(CUSTOM, "Custom list"),
            SelectChoice(AUTO, "Auto: the fewest colours for a target quality"),
        ],
        default=K_PRESETS[0].value,
    )
    k_custom = StringField("Custom k values", render_kw={"placeholder": "e.g. 3, 6, 12"})
    target_psnr = StringField("Target quality (PSNR, dB)", default=DEFAULT_TARGET_PSNR_DB)
    dither = BooleanField("Dithering (Floyd-Steinberg)")
    space = SelectField(
        "Colour space for clustering",
        choices=[
            SelectChoice("rgb", "RGB (as the article)"),
            SelectChoice("lab", "CIELAB (perceptual)"),
        ],
        default="rgb",
    )
    format = SelectField(
        "Output format",
        choices=[SelectChoice("png", "PNG (indexed)"), SelectChoice("webp", "WebP (lossless)")],
        default="png",
    )
    optimize = BooleanField("Optimize PNG outputs with oxipng (smaller files, slower)")

    def validate_k_custom(self, field: StringField) -> None:
        """Require a custom list when "Custom list" is chosen."""
        if self.k_choice.data == CUSTOM and not (field.data or "").strip(" ,;"):
            raise ValidationError("Enter at least one k value, e.g. 3, 6, 12.")

    def validate_k_choice(self, field: RadioField) -> None:
        """Require a target quality when "Auto" is chosen."""
        if field.data == AUTO and not (self.target_psnr.data or "").strip():
            raise ValidationError("Enter a target PSNR in dB, e.g. 35.")

    def job_params(self, max_k_values: int) -> QuantizeParams | None:
        """Return the validated parameters, or None with the model's message on the field."""
        if self.k_choice.data == CUSTOM and (bad := self.bad_k_values()):
            values = ", ".join(value if len(value) <= 20 else f"{value[:20]}..." for value in bad)
            self.k_custom.errors.append(f"k must be {field_rule('k')}, not {values}.")
            return None
        try:
            return QuantizeParams.parse(self.fields(), max_k_values)
        except InvalidParameter as exc:
            name = {"k": "k_custom" if self.k_choice.data == CUSTOM else "k_choice"}.get(
                exc.field or "", exc.field or "k_choice"
            )
            getattr(self, name, self.k_choice).errors.append(f"{exc.message}.")
            return None

    def bad_k_values(self) -> list[str]:
        """Every custom k value the model refuses, so that the form names them all at once (the
        model names the first bad field only)."""
        bad = []
        for value in self.fields()["k"].split(","):
            if value:
                try:
                    QuantizeParams.parse({"k": value}, 1)
                except InvalidParameter:
                    bad.append(value)
        return bad

    def fields(self) -> dict[str, Any]:
        """The choices as the API's fields (`k`, `dither`, `space`, ...)."""
        fields = {"dither": self.dither.data, "space": self.space.data, "format": self.format.data}
        fields["optimize"] = self.optimize.data
        if self.k_choice.data == AUTO:
            fields["k"] = ""
            fields["target_psnr"] = self.target_psnr.data
        elif self.k_choice.data == CUSTOM:
            fields["k"] = (self.k_custom.data or "").replace(";", ",").replace(" ", ",")
        else:
            fields["k"] = self.k_choice.data
        return fields


class JobForm(QuantizeForm):
    """Upload an image and choose how to quantize it."""

    image = FileField("Image", validators=[FileRequired("Choose an image to upload.")])


class BatchForm(QuantizeForm):
    """Start a batch: several pictures uploaded at once, or every picture under a storage prefix."""

    images = MultipleFileField("Pictures")
    prefix = StringField("Storage prefix", render_kw={"placeholder": "uploads/holiday/"})

    def chosen_files(self) -> list[FileStorage]:
        """The pictures chosen (a browser sends one empty file when none is)."""
        return [file for file in self.images.data or [] if file and file.filename]

    def validate_prefix(self, field: StringField) -> None:
        """Require the pictures or a prefix, not both."""
        if bool(self.chosen_files()) == bool((field.data or "").strip()):
            raise ValidationError("Choose some pictures or enter a storage prefix, one of the two.")


def sentence(message: str) -> str:
    """Capitalise a message and end it with a full stop, as a sentence on a page."""
    message = message.strip()
    return f"{message[:1].upper()}{message[1:]}{'' if message.endswith('.') else '.'}"
