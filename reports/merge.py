"""Concatenate PDFs into one file page by page, without holding the pages in memory.

pypdf's PdfWriter keeps every copied page until it writes, so a 1,000-report campaign would
grow the process by the size of the whole print file. This writer copies each source's objects
straight to the output (renumbered) and keeps only their offsets and the page numbers.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import BinaryIO

from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject, DictionaryObject, IndirectObject, NameObject, NumberObject, PdfObject, StreamObject,
)

CATALOG, PAGES = 1, 2
A4_BOX = ArrayObject([NumberObject(0), NumberObject(0), NumberObject(595), NumberObject(842)])


class StreamingMerger:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.offsets: dict[int, int] = {}
        self.kids: list[int] = []
        self._next = PAGES + 1
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    @property
    def page_count(self) -> int:
        return len(self.kids)

    def _number(self) -> int:
        self._next += 1
        return self._next - 1

    def _write(self, number: int, obj: PdfObject) -> None:
        self.offsets[number] = self.out.tell()
        self.out.write(f"{number} 0 obj\n".encode())
        obj.write_to_stream(self.out)
        self.out.write(b"\nendobj\n")

    def add(self, path: Path) -> int:
        """Append every page of ``path``; returns how many."""
        reader = PdfReader(path)
        renumbered: dict[int, int] = {}
        pending: deque[IndirectObject] = deque()

        def copy(obj: PdfObject) -> PdfObject:
            if isinstance(obj, IndirectObject):
                if obj.idnum not in renumbered:
                    renumbered[obj.idnum] = self._number()
                    pending.append(obj)
                return IndirectObject(renumbered[obj.idnum], 0, None)
            if isinstance(obj, StreamObject):
                clone = StreamObject()
                clone.set_data(obj._data)  # still encoded: the filters are copied with the dictionary
                clone.update({NameObject(k): copy(v) for k, v in dict.items(obj) if k != "/Length"})
                return clone
            if isinstance(obj, DictionaryObject):
                return DictionaryObject({NameObject(k): copy(v) for k, v in dict.items(obj)})
            if isinstance(obj, ArrayObject):
                return ArrayObject(copy(v) for v in obj)
            return obj

        for page in reader.pages:
            number = self._number()
            clone = DictionaryObject({NameObject(k): copy(v) for k, v in dict.items(page) if k != "/Parent"})
            clone[NameObject("/Parent")] = IndirectObject(PAGES, 0, None)
            self._write(number, clone)
            self.kids.append(number)
            while pending:
                source = pending.popleft()
                self._write(renumbered[source.idnum], copy(source.get_object()))
        return len(reader.pages)

    def add_blank(self) -> None:
        number = self._number()
        self._write(number, DictionaryObject({
            NameObject("/Type"): NameObject("/Page"), NameObject("/Parent"): IndirectObject(PAGES, 0, None),
            NameObject("/MediaBox"): A4_BOX, NameObject("/Resources"): DictionaryObject(),
        }))
        self.kids.append(number)

    def finish(self) -> None:
        self._write(PAGES, DictionaryObject({
            NameObject("/Type"): NameObject("/Pages"), NameObject("/Count"): NumberObject(len(self.kids)),
            NameObject("/Kids"): ArrayObject(IndirectObject(k, 0, None) for k in self.kids),
        }))
        self._write(CATALOG, DictionaryObject({
            NameObject("/Type"): NameObject("/Catalog"), NameObject("/Pages"): IndirectObject(PAGES, 0, None),
        }))
        xref = self.out.tell()
        size = self._next
        lines = [f"xref\n0 {size}\n", "0000000000 65535 f \n"]
        lines += [f"{self.offsets[n]:010d} 00000 n \n" if n in self.offsets else "0000000000 65535 f \n"
                  for n in range(1, size)]
        self.out.write("".join(lines).encode())
        self.out.write(f"trailer\n<< /Size {size} /Root {CATALOG} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())


def merge_for_duplex(paths: list[Path], out_path: Path) -> int:
    """One print file where each source starts on an odd page (a blank page pads odd-length ones)."""
    tmp = out_path.with_suffix(".part")
    with open(tmp, "wb") as out:
        merger = StreamingMerger(out)
        for path in paths:
            if merger.add(path) % 2:
                merger.add_blank()
        merger.finish()
    tmp.replace(out_path)
    return merger.page_count
