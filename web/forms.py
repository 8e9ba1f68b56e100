"""The upload form of the home page: fields, presets, and the API parameters it stands for."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DecimalField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import NumberRange, Optional, ValidationError

from worker import defaults

# Each preset's value is the comma-separated k list sent to the job.
K_PRESETS = (
    SelectChoice("2,5,10,15,24", "2, 5, 10, 15, 24 (the article's choice)"),
    SelectChoice("2,4,8,16", "2, 4, 8, 16 (1 to 4 bits per pixel)"),
    SelectChoice("8,16,32,64", "8, 16, 32, 64"),
    SelectChoice("64,128,256", "64, 128, 256 (near-photographic)"),
)
CUSTOM = "custom"
AUTO = "auto"
DEFAULT_TARGET_PSNR_DB = 35


class JobForm(FlaskForm):
    """Upload an image and choose how to quantize it; CSRF-protected by Flask-WTF."""

    image = FileField("Image", validators=[FileRequired("Choose an image to upload.")])
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
    target_psnr = DecimalField(
        "Target quality (PSNR, dB)",
        default=DEFAULT_TARGET_PSNR_DB,
        places=None,
        validators=[Optional(), NumberRange(min=10, max=80)],
    )
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

    def validate_k_custom(self, field: StringField) -> None:
        """Require a custom list of whole numbers in range when "Custom list" is chosen."""
        if self.k_choice.data != CUSTOM:
            return
        items = split_ks(field.data)
        if not items:
            raise ValidationError("Enter at least one k value, e.g. 3, 6, 12.")
        for item in items:
            if not item.isdigit() or not defaults.MIN_K <= int(item) <= defaults.MAX_K:
                raise ValidationError(
                    f"{item!r} is not a whole number from {defaults.MIN_K} to {defaults.MAX_K}."
                )

    def validate_k_choice(self, field: RadioField) -> None:
        """Require a target quality when "Auto" is chosen (the field itself is optional)."""
        if field.data == AUTO and self.target_psnr.data is None:
            raise ValidationError("Enter a target PSNR in dB, e.g. 35.")

    def job_params(self) -> dict[str, str]:
        """Return the choices as the API's multipart fields (`k`, `dither`, `space`, ...)."""
        params = {
            "dither": "true" if self.dither.data else "false",
            "space": self.space.data,
            "format": self.format.data,
        }
        if self.k_choice.data == AUTO:
            params["k"] = ""
            params["target_psnr"] = str(self.target_psnr.data)
        elif self.k_choice.data == CUSTOM:
            params["k"] = ",".join(split_ks(self.k_custom.data))
        else:
            params["k"] = self.k_choice.data
        return params


def split_ks(text: str | None) -> list[str]:
    """Split a typed list such as "3, 6; 12" into its non-empty items."""
    items = (text or "").replace(";", ",").replace(" ", ",").split(",")
    return [item.strip() for item in items if item.strip()]
