"""A Chinese font for reportlab, embedded in the PDF.

reportlab embeds TrueType (glyf) fonts only. Debian's fonts-noto-cjk ships
Noto Sans CJK as an OpenType collection with CFF (PostScript) outlines, which
``TTFont(..., subfontIndex=2)`` refuses ("postscript outlines are not supported").
So, in order:

1. a TrueType CJK font if one is installed (WenQuanYi, AR PL, Droid fallback):
   registered as it is, reportlab subsets and embeds it;
2. Noto Sans CJK SC from the .ttc: the glyphs the document uses are cut out with
   fontTools and their cubic outlines converted to quadratic TrueType outlines
   (``cu2qu``), then registered from memory (about a second; cached per text set);
3. reportlab's built-in ``STSong-Light`` CID font: always works, but it is not
   embedded (the reader supplies the font), so ``embedded`` is False.
"""
from __future__ import annotations

import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

log = logging.getLogger(__name__)

NOTO = Path("/usr/share/fonts/opentype/noto")
NOTO_REGULAR = NOTO / "NotoSansCJK-Regular.ttc"
NOTO_BOLD = NOTO / "NotoSansCJK-Bold.ttc"
NOTO_SC_INDEX = 2            # JP, KR, SC, TC, HK in Debian's collection; checked by name below
TRUETYPE_CANDIDATES = [
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
]
CID_FALLBACK = "STSong-Light"
# always available, whatever the document says (labels drawn by the exporter itself)
BASE_TEXT = ("".join(chr(c) for c in range(32, 127))
             + "，。；：、（）【】《》“”‘’—–·…％×÷−＋～！？")

_LOCK = threading.Lock()
_CACHE: dict[str, "CJKFont"] = {}


@dataclass(frozen=True)
class CJKFont:
    regular: str
    bold: str
    embedded: bool
    source: str


def _sc_index(path: Path) -> int:
    try:
        from fontTools.ttLib import TTCollection
        coll = TTCollection(str(path), lazy=True)
        for i, f in enumerate(coll.fonts):
            if f["name"].getDebugName(1).endswith(" SC"):
                return i
    except Exception:  # noqa: BLE001
        pass
    return NOTO_SC_INDEX


def _cff_subset_to_ttf(path: Path, index: int, text: str, ps_name: str | None = None) -> bytes:
    """The glyphs for ``text`` from a CFF-flavoured font, as a TrueType-outline font.

    ``ps_name`` renames the result: reportlab shares one face per PostScript name, so two
    subsets both called NotoSansCJKsc-Regular would draw with the first one's glyphs.
    """
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont as FTFont
    from fontTools.ttLib import newTable

    font = FTFont(str(path), fontNumber=index, lazy=True)
    opts = subset.Options()
    opts.layout_features = []
    opts.name_IDs = ["*"]
    opts.notdef_outline = True
    opts.hinting = False
    opts.desubroutinize = True
    sub = subset.Subsetter(opts)
    sub.populate(text=text)
    sub.subset(font)

    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in ("maxPoints", "maxContours", "maxCompositePoints", "maxCompositeContours",
                 "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                 "maxStackElements", "maxSizeOfInstructions", "maxComponentElements",
                 "maxComponentDepth"):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\x00\x01\x00\x00"
    if ps_name:
        for rec in font["name"].names:
            if rec.nameID in (3, 4, 6):
                rec.string = ps_name
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _truetype() -> CJKFont | None:
    for path, idx in TRUETYPE_CANDIDATES:
        if Path(path).exists():
            try:
                name = "CJK-" + Path(path).stem
                if name not in pdfmetrics.getRegisteredFontNames():
                    pdfmetrics.registerFont(TTFont(name, path, subfontIndex=idx))
                return CJKFont(name, name, True, path)
            except Exception as exc:  # noqa: BLE001
                log.warning("font %s unusable: %s", path, exc)
    return None


def _noto(text: str) -> CJKFont | None:
    if not NOTO_REGULAR.exists():
        return None
    idx = _sc_index(NOTO_REGULAR)
    try:  # a TrueType build of Noto (some distributions ship one) registers directly
        pdfmetrics.registerFont(TTFont("NotoSansSC", str(NOTO_REGULAR), subfontIndex=idx))
        return CJKFont("NotoSansSC", "NotoSansSC", True, str(NOTO_REGULAR))
    except Exception as exc:  # noqa: BLE001 - CFF outlines: convert the needed glyphs below
        log.info("reportlab cannot load %s directly (%s); converting a subset", NOTO_REGULAR, exc)
    try:
        chars = "".join(sorted(set(text + BASE_TEXT)))
        tag = hashlib.sha1(chars.encode("utf-8")).hexdigest()[:10]
        reg = f"NotoSansSC-{tag}"
        bold = f"NotoSansSC-Bold-{tag}"
        names = pdfmetrics.getRegisteredFontNames()
        if reg not in names:
            pdfmetrics.registerFont(TTFont(reg, io.BytesIO(_cff_subset_to_ttf(NOTO_REGULAR, idx, chars, reg))))
        if bold not in names:
            if NOTO_BOLD.exists():
                pdfmetrics.registerFont(TTFont(bold, io.BytesIO(
                    _cff_subset_to_ttf(NOTO_BOLD, _sc_index(NOTO_BOLD), chars, bold))))
            else:
                bold = reg
        return CJKFont(reg, bold, True, str(NOTO_REGULAR))
    except ImportError:
        log.warning("fontTools is not installed: cannot embed Noto Sans CJK")
    except Exception as exc:  # noqa: BLE001
        log.warning("converting Noto Sans CJK failed: %s", exc)
    return None


def _cid() -> CJKFont:
    if CID_FALLBACK not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return CJKFont(CID_FALLBACK, CID_FALLBACK, False, CID_FALLBACK)


def cjk_font(text: str = "") -> CJKFont:
    """Register and return a Chinese font able to draw ``text`` (plus ASCII and punctuation)."""
    key = hashlib.sha1("".join(sorted(set(text))).encode("utf-8")).hexdigest()
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        font = _truetype() or _noto(text) or _cid()
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = font
        return font
