"""The PDF's fonts, chosen by the glyphs the document needs, embedded.

A font is chosen because it can draw every character of the document, not because
its path is on a list: Debian's ``fonts-droid-fallback`` (pulled in by ghostscript,
so by imagemagick and libreoffice) is a CJK font *without* digits, Latin letters or
``%``; picked by path it drew every figure of the report as ``.notdef``.

1. Every face under the font folders (``DASHBOARD_FONT_DIRS``, or ``dirs=`` for tests)
   is read for its ``cmap``.
2. The primary face is Noto Sans CJK SC when installed (then Noto Sans CJK in another
   locale, Noto Serif CJK), otherwise the face covering most of the document's
   characters. Characters it lacks are taken, in turn, from the face covering most of
   the rest (Droid's missing digits from DejaVu Sans, say): a fallback chain.
3. The chain is cut down to the document's characters and merged into one TrueType
   font (CFF outlines such as Noto's converted to quadratic ones with ``cu2qu``,
   glyphs scaled to one em), which reportlab subsets and embeds. One font per weight
   keeps every run of text in one font: reportlab has no per-character fallback.
4. When the installed faces cannot draw every character (no CJK font at all), the
   PDF uses reportlab's ``STSong-Light``, the Adobe CID font PDF readers carry (WPS,
   Acrobat, Foxit, poppler): the report is still readable and holds every figure, but
   the font is not embedded, and ``CJKFont.missing`` names what the server lacks so the
   command line can say which package to install. A leader would rather have the
   report than an error; the server's admin gets the hint.
"""
from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

log = logging.getLogger(__name__)

CID_FALLBACK = "STSong-Light"
FONT_SUFFIXES = (".ttf", ".ttc", ".otf", ".otc")
# always available, whatever the document says (labels drawn by the exporter itself)
BASE_TEXT = "，。；：、（）【】《》“”‘’—–·…％×÷−＋～！？"
ASCII = "".join(chr(c) for c in range(32, 127))
# a character no installed face draws is drawn with the glyph of its plain equivalent
# (WenQuanYi has no U+2212 minus); the text layer still says what the document says
EQUIVALENT = {"−": "-", "–": "-", "—": "-", "％": "%", "～": "~", "＋": "+", "×": "x", "·": ".",
              "“": '"', "”": '"', "‘": "'", "’": "'", "，": ",", "：": ":", "；": ";", "（": "(",
              "）": ")", "！": "!", "？": "?", "【": "[", "】": "]", "《": "<", "》": ">", "÷": "/"}
# preferred primary faces, best first (family name as the font's name table spells it)
PREFERRED = ("Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK HK", "Noto Sans CJK JP",
             "Noto Sans CJK KR", "Noto Serif CJK SC", "Noto Serif CJK TC", "Noto Serif CJK JP")
# faces that may fill gaps but look wrong in running text
_ODD = ("mono", "math", "condensed", "narrow", "extralight", "italic", "oblique")

_LOCK = threading.Lock()
_CACHE: dict[str, "CJKFont"] = {}
_FACES: dict[tuple, tuple] = {}     # (path, mtime, size) -> its Faces
_CMAPS: dict[tuple, frozenset] = {}
_GLYPHS: dict[tuple, tuple] = {}     # (face, glyph name, scale) -> (TrueType glyph, advance)  # (path, index, (mtime, size)) -> code points


@dataclass(frozen=True)
class CJKFont:
    regular: str
    bold: str
    embedded: bool
    source: str                                   # the faces used, "a.ttc#2 + b.ttf"
    missing: str = ""                             # characters no installed face draws


@dataclass(frozen=True)
class Face:
    path: str
    index: int
    family: str
    style: str
    stamp: tuple = field(repr=False, default=())   # (mtime, size): the cmap cache's key

    @property
    def codepoints(self) -> frozenset:
        """The characters the face maps, read on first use (a CJK face maps ~65,000: reading
        every face's cmap up front took seconds, and Noto usually covers everything alone)."""
        key = (self.path, self.index, self.stamp)
        if key not in _CMAPS:
            try:
                _CMAPS[key] = _codepoints(self.path, self.index)
            except Exception as exc:  # noqa: BLE001 - a broken cmap: the face draws nothing
                log.info("font %s#%d cmap unreadable: %s", self.path, self.index, exc)
                _CMAPS[key] = frozenset()
        return _CMAPS[key]

    @property
    def bold(self) -> bool:
        return self.style.lower() in ("bold", "heavy", "black")

    @property
    def regular(self) -> bool:
        """The family's regular weight (fonts-noto-cjk-extra adds Thin, Light, DemiLight, Medium)."""
        return self.style.lower() in ("regular", "book", "normal", "roman", "standard")

    @property
    def plain(self) -> bool:
        name = f"{self.family} {self.style}".lower()
        return not self.bold and not any(w in name for w in _ODD)

    @property
    def preference(self) -> int:
        return PREFERRED.index(self.family) if self.family in PREFERRED else len(PREFERRED)


def _codepoints(path: str, index: int) -> frozenset:
    """The code points a face maps. From the raw format-12 subtable when there is one (CJK
    fonts: fontTools' getBestCmap names all 65,000 glyphs, a quarter second per face)."""
    import struct

    from fontTools.ttLib import TTFont as FTFont
    f = FTFont(path, fontNumber=index, lazy=True)
    raw = f.reader["cmap"]
    n = struct.unpack_from(">H", raw, 2)[0]
    for i in range(n):
        pid, eid, off = struct.unpack_from(">HHI", raw, 4 + 8 * i)
        if (pid, eid) in ((3, 10), (0, 4), (0, 6)) and struct.unpack_from(">H", raw, off)[0] == 12:
            groups = struct.unpack_from(">I", raw, off + 12)[0]
            out = set()
            for g in range(groups):
                start, end, glyph = struct.unpack_from(">III", raw, off + 16 + 12 * g)
                out.update(range(start + (glyph == 0), end + 1))
            return frozenset(out)
    return frozenset(c for c, g in (f.getBestCmap() or {}).items() if g != ".notdef")


def font_dirs(dirs=None) -> list[Path]:
    """The folders searched for fonts: ``dirs``, else the DASHBOARD_FONT_DIRS setting."""
    if dirs is None:
        from dashboard import settings
        dirs = [d for d in str(settings.get("DASHBOARD_FONT_DIRS")).split(os.pathsep) if d.strip()]
    return [Path(os.path.expanduser(str(d))) for d in dirs]


def _read_faces(path: Path, stamp: tuple) -> list[Face]:
    from fontTools.ttLib import TTCollection
    from fontTools.ttLib import TTFont as FTFont
    if path.suffix.lower() in (".ttc", ".otc"):
        fonts = list(TTCollection(str(path), lazy=True).fonts)
    else:
        fonts = [FTFont(str(path), lazy=True)]
    out = []
    for i, f in enumerate(fonts):
        if "glyf" not in f and "CFF " not in f:
            continue  # bitmap-only or CFF2: nothing we can embed
        name = f["name"]
        family = str(name.getDebugName(16) or name.getDebugName(1) or path.stem)
        style = str(name.getDebugName(17) or name.getDebugName(2) or "Regular")
        out.append(Face(str(path), i, family, style, stamp))
    return out


def faces(dirs=None) -> list[Face]:
    """Every usable face under the font folders (cmaps cached per file version)."""
    out = []
    for d in font_dirs(dirs):
        if not d.is_dir():
            continue
        for path in sorted(d.rglob("*")):
            if path.suffix.lower() not in FONT_SUFFIXES or not path.is_file():
                continue
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
            if key not in _FACES:
                try:
                    _FACES[key] = tuple(_read_faces(path, key[1:]))
                except Exception as exc:  # noqa: BLE001 - a broken font file is skipped
                    log.info("font %s unreadable: %s", path, exc)
                    _FACES[key] = ()
            out += _FACES[key]
    return out


def _needed(text: str) -> set[int]:
    """The characters that must be drawn: the document's and ASCII (axis labels, numbers)."""
    return {ord(c) for c in set(text + ASCII) if unicodedata.category(c)[0] != "C"}  # spaces too


def _wanted(text: str) -> set[int]:
    """Needed, plus the exporter's own punctuation (drawn as an equivalent when absent)."""
    return _needed(text + BASE_TEXT)


def _is_cjk(cp: int) -> bool:
    return cp >= 0x2E80


def chain(text: str, dirs=None, bold: bool = False) -> tuple[list[Face], set[int]]:
    """(faces in fallback order, needed code points none of them draws) for ``text``.

    The primary face is the preferred Noto when present, else the face drawing most of the
    text's Chinese (then most of the rest); each next face is the one drawing most of what is
    still missing. A character with a plain equivalent (− for -, ％ for %) counts as drawn
    when the equivalent is.
    """
    need = _wanted(text)
    pool = [f for f in faces(dirs) if f.bold == bold]
    if not pool:
        return [], _needed(text)
    cjk = {c for c in need if _is_cjk(c)}
    best = min(f.preference for f in pool)
    if best < len(PREFERRED):  # Noto: no need to read every other face's cmap
        pool_1 = [f for f in pool if f.preference == best]
    else:
        pool_1 = pool
    primary = min(pool_1, key=lambda f: (-len(cjk & f.codepoints), -len(need & f.codepoints),
                                         not (f.regular or bold), not f.plain, f.path, f.index))
    out, rest = [primary], need - primary.codepoints
    while rest:
        best = max(pool, key=lambda f: (len(rest & f.codepoints), f.regular or bold, f.plain, -f.preference))
        if not rest & best.codepoints:
            break
        out.append(best)
        rest -= best.codepoints
    drawn = set().union(*(f.codepoints for f in out))
    rest = {c for c in rest if not (chr(c) in EQUIVALENT and ord(EQUIVALENT[chr(c)]) in drawn)}
    return out, rest & _needed(text)


def _bold_chain(regular: list[Face], text: str, dirs) -> list[Face]:
    """The bold faces matching the regular chain, face by face; regular where none covers."""
    bolds = sorted((f for f in faces(dirs) if f.bold), key=lambda f: f.style.lower() != "bold")
    out = []
    for f in regular:
        twin = next((b for b in bolds if b.family == f.family), None)
        out.append(twin or f)
    covered = set().union(*(f.codepoints for f in out))
    return out if _needed(text) <= covered else regular


def _load(face: Face):
    from fontTools.ttLib import TTFont as FTFont
    return FTFont(face.path, fontNumber=face.index, lazy=True)


def _merged_ttf(chain_: list[Face], text: str, ps_name: str) -> bytes:
    """One TrueType-outline font holding each needed character from the first face of
    ``chain_`` that has it (glyphs scaled to the first face's em)."""
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.recordingPen import DecomposingRecordingPen
    from fontTools.pens.transformPen import TransformPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable
    from fontTools.ttLib.tables._c_m_a_p import CmapSubtable

    need = sorted(_wanted(text))
    base = _load(chain_[0])
    upem = base["head"].unitsPerEm
    order, glyphs, metrics, cmap = [".notdef"], {}, {}, {}

    sets: dict[int, object] = {}

    def add(face, font, gname, new_name, scale):
        key = (face.path, face.index, face.stamp, gname, scale)
        if key not in _GLYPHS:  # converting outlines is most of the time: reuse across documents
            gs = sets.setdefault(id(font), font.getGlyphSet())
            pen = TTGlyphPen(None)
            out = Cu2QuPen(pen, 1.0, reverse_direction="CFF " in font)
            if scale != 1.0:
                out = TransformPen(out, (scale, 0, 0, scale, 0, 0))
            if "glyf" in font:  # components name glyphs of that font: draw them in place
                rec = DecomposingRecordingPen(gs)
                gs[gname].draw(rec)
                rec.replay(out)
            else:
                gs[gname].draw(out)
            if len(_GLYPHS) > 50_000:
                _GLYPHS.clear()
            _GLYPHS[key] = (pen.glyph(), round(font["hmtx"][gname][0] * scale))
        glyph, advance = _GLYPHS[key]
        glyphs[new_name] = copy.deepcopy(glyph)
        metrics[new_name] = (advance, 0)

    add(chain_[0], base, base.getGlyphOrder()[0], ".notdef", 1.0)
    left = list(need)
    for n, face in enumerate(chain_):
        font = base if n == 0 else _load(face)
        scale = upem / font["head"].unitsPerEm
        best = font.getBestCmap() or {}
        rest = []
        for cp in left:
            if cp in best:
                name = f"u{cp:04X}"
                add(face, font, best[cp], name, scale)
                order.append(name)
                cmap[cp] = name
            else:
                rest.append(cp)
        left = rest
    for cp in left:  # drawn as its equivalent, or left to .notdef (the caller checked it is not needed)
        eq = EQUIVALENT.get(chr(cp))
        if eq is not None and ord(eq) in cmap:
            cmap[cp] = cmap[ord(eq)]

    font = base
    for tag in ("CFF ", "VORG", "GSUB", "GPOS", "GDEF", "BASE", "JSTF", "vhea", "vmtx", "kern",
                "hdmx", "LTSH", "VDMX", "fpgm", "prep", "cvt ", "gasp", "DSIG", "morx", "feat"):
        if tag in font:
            del font[tag]
    font.setGlyphOrder(order)
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    hmtx = newTable("hmtx")
    hmtx.metrics = metrics
    font["hmtx"] = hmtx
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    maxp.numGlyphs = len(order)
    for attr in ("maxPoints", "maxContours", "maxCompositePoints", "maxCompositeContours",
                 "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                 "maxStackElements", "maxSizeOfInstructions", "maxComponentElements",
                 "maxComponentDepth"):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    font["head"].glyphDataFormat = 0
    tables = []
    for fmt_, pid, eid, mapping in ((4, 3, 1, {k: v for k, v in cmap.items() if k <= 0xFFFF}),
                                    (12, 3, 10, cmap)):
        if fmt_ == 12 and max(cmap, default=0) <= 0xFFFF:
            continue
        sub = CmapSubtable.newSubtable(fmt_)
        sub.platformID, sub.platEncID, sub.language, sub.cmap = pid, eid, 0, mapping
        tables.append(sub)
    cm = newTable("cmap")
    cm.tableVersion, cm.tables = 0, tables
    font["cmap"] = cm
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\x00\x01\x00\x00"
    for rec in font["name"].names:
        if rec.nameID in (3, 4, 6):
            rec.string = ps_name
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


# characters Adobe-GB1's Unicode CMap (UniGB-UCS2-H) lacks, seen as boxes when rendered
CID_SUBSTITUTE = str.maketrans({"−": "-", "·": "・", "•": "・"})


def cid_text(text: str) -> str:
    """``text`` as the CID fallback font draws it."""
    return text.translate(CID_SUBSTITUTE)


class _CIDFont(UnicodeCIDFont):
    """STSong-Light drawing the few characters its CMap lacks as their equivalents."""

    def formatForPdf(self, text):
        return super().formatForPdf(cid_text(text.decode("utf8") if isinstance(text, bytes) else text))

    def stringWidth(self, text, size, encoding=None):
        return super().stringWidth(cid_text(text.decode("utf8") if isinstance(text, bytes) else text),
                                   size, encoding)


def _cid(missing: set[int], source: str) -> CJKFont:
    registered = CID_FALLBACK in pdfmetrics.getRegisteredFontNames()
    if not registered or not isinstance(pdfmetrics.getFont(CID_FALLBACK), _CIDFont):
        pdfmetrics.registerFont(_CIDFont(CID_FALLBACK))
    return CJKFont(CID_FALLBACK, CID_FALLBACK, False, source or CID_FALLBACK,
                   "".join(sorted(map(chr, missing))))


def _describe(ch: list[Face]) -> str:
    return " + ".join(f"{Path(f.path).name}#{f.index}" for f in ch)


def cjk_font(text: str = "", dirs=None) -> CJKFont:
    """Register and return fonts (regular, bold) that draw every character of ``text``
    (plus ASCII and Chinese punctuation), from the faces under ``dirs`` (default: the
    DASHBOARD_FONT_DIRS setting)."""
    folders = [str(d) for d in font_dirs(dirs)]
    key = hashlib.sha1(("\0".join(folders) + "\0" + "".join(sorted(set(text)))).encode("utf-8")).hexdigest()
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        font = _choose(text, folders)
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = font
        return font


def _choose(text: str, folders: list[str]) -> CJKFont:
    reg_chain, missing = chain(text, folders)
    if missing or not reg_chain:
        log.warning("no installed font draws %r: using %s (not embedded)",
                    "".join(sorted(map(chr, missing)))[:40], CID_FALLBACK)
        return _cid(missing, _describe(reg_chain))
    bold_chain = _bold_chain(reg_chain, text, folders)
    tag = hashlib.sha1(("".join(sorted(set(text))) + _describe(reg_chain) + _describe(bold_chain))
                       .encode("utf-8")).hexdigest()[:10]
    reg, bold = f"CJK-{tag}", f"CJK-Bold-{tag}"
    try:
        names = pdfmetrics.getRegisteredFontNames()
        if reg not in names:
            pdfmetrics.registerFont(TTFont(reg, io.BytesIO(_merged_ttf(reg_chain, text, reg))))
        if bold_chain == reg_chain:
            bold = reg
        elif bold not in names:
            pdfmetrics.registerFont(TTFont(bold, io.BytesIO(_merged_ttf(bold_chain, text, bold))))
    except Exception as exc:  # noqa: BLE001 - a font we cannot convert: the CID font still reads
        log.warning("building the PDF font from %s failed: %s", _describe(reg_chain), exc)
        return _cid(set(), _describe(reg_chain))
    return CJKFont(reg, bold, True, _describe(reg_chain))
