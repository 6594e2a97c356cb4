"""Pure single-threaded code: a JSON encoder and recursive-descent decoder written in Python.

What users pay when there is no concurrency at all: a typical hand-written
lexer/parser (a class with ``self.pos``/``self.text`` attribute traffic,
string slicing, dict and list building) round-trips generated documents.
No second thread ever exists, so a detector can know that nothing can race.
"""

from __future__ import annotations

import time

import _workload

SIZES = {"full": 1_500, "quick": 80, "tiny": 5}  # documents round-tripped
ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}
UNESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "/": "/"}


class Encoder:
    def __init__(self) -> None:
        self.parts: list = []

    def encode(self, value: object) -> str:
        self.parts = []
        self._value(value)
        return "".join(self.parts)

    def _value(self, v: object) -> None:
        if v is None:
            self.parts.append("null")
        elif v is True:
            self.parts.append("true")
        elif v is False:
            self.parts.append("false")
        elif isinstance(v, (int, float)):
            self.parts.append(repr(v))
        elif isinstance(v, str):
            self._string(v)
        elif isinstance(v, list):
            self.parts.append("[")
            for i, item in enumerate(v):
                if i:
                    self.parts.append(",")
                self._value(item)
            self.parts.append("]")
        elif isinstance(v, dict):
            self.parts.append("{")
            for i, (k, item) in enumerate(v.items()):
                if i:
                    self.parts.append(",")
                self._string(k)
                self.parts.append(":")
                self._value(item)
            self.parts.append("}")
        else:
            raise TypeError(f"cannot encode {type(v).__name__}")

    def _string(self, s: str) -> None:
        self.parts.append('"')
        for ch in s:
            self.parts.append(ESCAPES.get(ch, ch))
        self.parts.append('"')


class Decoder:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def decode(self) -> object:
        value = self._value()
        self._ws()
        if self.pos != len(self.text):
            raise ValueError(f"trailing data at {self.pos}")
        return value

    def _ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n\r":
            self.pos += 1

    def _value(self) -> object:
        self._ws()
        ch = self.text[self.pos]
        if ch == "{":
            return self._object()
        if ch == "[":
            return self._array()
        if ch == '"':
            return self._string()
        for word, value in (("null", None), ("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return value
        return self._number()

    def _object(self) -> dict:
        self.pos += 1
        result: dict = {}
        self._ws()
        if self.text[self.pos] == "}":
            self.pos += 1
            return result
        while True:
            self._ws()
            key = self._string()
            self._ws()
            self._expect(":")
            result[key] = self._value()
            self._ws()
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            self._expect("}")
            return result

    def _array(self) -> list:
        self.pos += 1
        result: list = []
        self._ws()
        if self.text[self.pos] == "]":
            self.pos += 1
            return result
        while True:
            result.append(self._value())
            self._ws()
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            self._expect("]")
            return result

    def _string(self) -> str:
        self._expect('"')
        chars = []
        while True:
            ch = self.text[self.pos]
            self.pos += 1
            if ch == '"':
                return "".join(chars)
            if ch == "\\":
                chars.append(UNESCAPES[self.text[self.pos]])
                self.pos += 1
            else:
                chars.append(ch)

    def _number(self) -> object:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in "+-0123456789.eE":
            self.pos += 1
        token = self.text[start:self.pos]
        if not token:
            raise ValueError(f"unexpected {self.text[self.pos]!r} at {self.pos}")
        return float(token) if any(c in token for c in ".eE") else int(token)

    def _expect(self, ch: str) -> None:
        if self.text[self.pos] != ch:
            raise ValueError(f"expected {ch!r} at {self.pos}")
        self.pos += 1


def make_document(seed: int) -> dict:
    items = []
    for i in range(12):
        k = seed * 13 + i
        items.append({
            "id": k,
            "name": f"item \"{k}\"\n",
            "price": (k % 997) / 4,
            "tags": ["t%d" % (k % 5), "t%d" % (k % 7)],
            "active": k % 3 == 0,
            "parent": None if k % 4 else k - 1,
        })
    return {"order": seed, "customer": {"name": "Ada", "city": "London"}, "items": items}


def main() -> None:
    args = _workload.parse(__doc__.splitlines()[0], SIZES)
    encoder = Encoder()
    chars = 0
    t0 = time.perf_counter()
    for seed in range(args.size):
        doc = make_document(seed)
        text = encoder.encode(doc)
        chars += len(text)
        _workload.check(Decoder(text).decode() == doc, f"round trip of document {seed}")
    seconds = time.perf_counter() - t0
    _workload.report(seconds, ops=args.size, chars=chars)


if __name__ == "__main__":
    main()
