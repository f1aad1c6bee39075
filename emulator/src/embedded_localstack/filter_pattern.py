"""CloudWatch Logs filter patterns: parse once, match many events.

Implements the syntax of the AWS page "Filter pattern syntax for metric filters, subscription
filters, filter log events, and Live Tail" (FilterAndPatternSyntax): terms and quoted phrases
(case sensitive, substring match), `?term` OR, `-term` exclusion, standalone `%regex%`, JSON
patterns `{ ... }` and space-delimited patterns `[ ... ]`, plus the metric transformation of a
metric filter (metricValue, defaultValue, dimensions, unit).

Pure standard library so it runs on both the controller (3.12) and LocalStack (3.13).
"""

from __future__ import annotations

import functools
import json
import math
import operator as operator_module
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple

__all__ = [
    "CompiledPattern",
    "Datapoint",
    "FilterPatternError",
    "LogEvent",
    "MetricFilter",
    "MetricFilterSet",
    "compile_pattern",
]

PatternKind = Literal["all", "terms", "regex", "json", "delimited"]
Extracted = Mapping[str, str]
Evaluator = Callable[["LogEvent"], "Extracted | None"]


class FilterPatternError(ValueError):
    """A malformed filter pattern or metric transformation; the message suits an
    InvalidParameterException."""


class _Missing:
    __slots__ = ()


_MISSING: Any = _Missing()  # a selector that points at nothing (distinct from JSON null)
_NOT_JSON: Any = _Missing()  # the message is not a JSON object

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DELIMITED_FIELD = re.compile(r'"([^"]*)"|\[([^\]]*)\]|(\S+)')
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_POSITIONAL = re.compile(r"[1-9][0-9]*")
# Characters the docs allow inside %regex% ("Supported regular expressions (regex) syntax"):
# alphanumerics, the symbols _ # = @ / ; , - : and the operators ^ $ ? [ ] { } | \ * + .
_REGEX_ALLOWED = re.compile(r"[A-Za-z0-9_#=@/;,:\-^$?\[\]{}|\\*+. ]*")
_MAX_REGEXES_PER_PATTERN = 2  # "a limit of 2 regex for each filter pattern" (Quotas)
_MAX_DIMENSIONS = 3


class LogEvent:
    """One log message, with the JSON document and space-delimited fields parsed at most once,
    however many patterns look at it."""

    __slots__ = ("_document", "_fields", "message")

    def __init__(self, message: str) -> None:
        self.message = message
        self._document: Any = None
        self._fields: list[str] | None = None

    def document(self) -> Any:
        """The message as a JSON object, or _NOT_JSON (JSON patterns never match those)."""
        if self._document is None:
            self._document = _parse_json_object(self.message)
        return self._document

    def fields(self) -> list[str]:
        """Space-delimited fields; text in "double quotes" or [brackets] is one field."""
        if self._fields is None:
            message = self.message
            if '"' in message or "[" in message:
                self._fields = [
                    quoted or bracketed or bare
                    for quoted, bracketed, bare in _DELIMITED_FIELD.findall(message)
                ]
            else:  # only bare fields: str.split's whitespace is the regex's \s, 5x faster
                self._fields = message.split()
        return self._fields


# json.loads minus its wrapper (two whitespace regexes, the BOM check): the C scanner itself.
_scan_json = json.JSONDecoder().scan_once


def _parse_json_object(message: str) -> Any:
    text = message.strip()
    if not text.startswith("{"):  # cheap rejection of START/END/REPORT and prose lines
        return _NOT_JSON
    try:
        document, end = _scan_json(text, 0)
    except (ValueError, StopIteration):
        return _NOT_JSON
    # `{` always scans to a dict; text after it ("Extra data" for json.loads) is not JSON.
    return document if end == len(text) else _NOT_JSON


# ---------------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["word", "quoted", "regex", "op", "and", "or", "(", ")", ",", "ellipsis"]
    text: str
    position: int


_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_WORD_STOP = frozenset(' \t\r\n(),&|=!<>"')


def _tokenize(body: str, pattern: str) -> list[_Token]:
    """Tokens of the inside of a JSON `{...}` or space-delimited `[...]` pattern."""
    tokens: list[_Token] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char.isspace():
            index += 1
        elif body.startswith("...", index):
            tokens.append(_Token("ellipsis", "...", index))
            index += 3
        elif body.startswith("&&", index):
            tokens.append(_Token("and", "&&", index))
            index += 2
        elif body.startswith("||", index):
            tokens.append(_Token("or", "||", index))
            index += 2
        elif char in "(),":
            tokens.append(_Token(char, char, index))  # type: ignore[arg-type]
            index += 1
        elif char in "=!<>":
            operator = next((op for op in _OPERATORS if body.startswith(op, index)), None)
            if operator is None:
                raise _error(pattern, f"unknown operator at {body[index : index + 2]!r}")
            tokens.append(_Token("op", operator, index))
            index += len(operator)
        elif char == '"':
            text, end = _read_quoted(body, index, pattern)
            tokens.append(_Token("quoted", text, index))
            index = end
        elif char == "%":
            end = body.find("%", index + 1)
            if end < 0:
                raise _error(pattern, "unterminated %regex%")
            tokens.append(_Token("regex", body[index + 1 : end], index))
            index = end + 1
        elif char in "&|":
            raise _error(pattern, f"single {char!r}; use && or ||")
        else:
            start = index
            while index < len(body) and body[index] not in _WORD_STOP:
                index += 1
            tokens.append(_Token("word", body[start:index], start))
    return tokens


def _read_quoted(text: str, start: int, pattern: str) -> tuple[str, int]:
    """The content of the double-quoted string at text[start]; \\" and \\\\ are escapes."""
    chars: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in '"\\':
            chars.append(text[index + 1])
            index += 2
        elif char == '"':
            return "".join(chars), index + 1
        else:
            chars.append(char)
            index += 1
    raise _error(pattern, "unterminated double quote")


def _error(pattern: str, reason: str) -> FilterPatternError:
    return FilterPatternError(f"Invalid filter pattern {pattern!r}: {reason}")


class _TokenStream:
    def __init__(self, tokens: list[_Token], pattern: str) -> None:
        self.tokens = tokens
        self.index = 0
        self.pattern = pattern

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _error(self.pattern, "unexpected end of pattern")
        self.index += 1
        return token

    def take_if(self, kind: str, text: str | None = None) -> _Token | None:
        token = self.peek()
        if token is not None and token.kind == kind and (text is None or token.text == text):
            self.index += 1
            return token
        return None

    def fail(self, reason: str) -> FilterPatternError:
        token = self.peek()
        where = f" at {token.text!r}" if token else " at end of pattern"
        return _error(self.pattern, reason + where)


# ---------------------------------------------------------------------------------- values


def _wildcard_matcher(value: str) -> Callable[[str], bool]:
    """String equality where a leading and/or trailing `*` matches any text (JSON "STRING":
    `*Event` matches PutEvent, `Event*` EventId, while `Ev*ent` only the literal Ev*ent)."""
    if value == "*":
        return lambda text: True
    prefix_wild, suffix_wild = value.startswith("*"), value.endswith("*")
    core = value[1 if prefix_wild else None : -1 if suffix_wild else None]
    if prefix_wild and suffix_wild:
        return lambda text: core in text
    if prefix_wild:
        return lambda text: text.endswith(core)
    if suffix_wild:
        return lambda text: text.startswith(core)
    return lambda text: text == core


def _compile_regex(source: str, pattern: str) -> re.Pattern[str]:
    if not source:
        raise _error(pattern, "empty %regex%")
    if not _REGEX_ALLOWED.fullmatch(source):
        bad = sorted({c for c in source if not _REGEX_ALLOWED.fullmatch(c)})
        raise _error(pattern, f"unsupported character(s) in %regex%: {''.join(bad)!r}")
    try:
        return re.compile(source)
    except re.error as exc:
        raise _error(pattern, f"invalid %regex%: {exc}") from None


def _as_number(text: str) -> float | None:
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _json_number(value: Any) -> float | None:
    if type(value) is int or type(value) is float:
        return float(value)
    return None


def _json_text(value: Any) -> str | None:
    """Text a string comparison sees: strings as they are, numbers as JSON writes them."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return repr(value)
    return None


_ORDERINGS: dict[str, Callable[[float, float], bool]] = {
    "<": float.__lt__,
    ">": float.__gt__,
    "<=": float.__le__,
    ">=": float.__ge__,
}


@dataclass(frozen=True, slots=True)
class _ValueTest:
    """`op value` of one comparison, as a predicate over the text/number it is applied to."""

    operator: str
    number: float | None  # the literal is numeric
    text_matches: Callable[[str], bool]
    is_regex: bool


def _value_test(operator: str, value: _Token, stream: _TokenStream) -> _ValueTest:
    pattern = stream.pattern
    if value.kind not in ("word", "quoted", "regex"):
        raise _error(pattern, f"expected a value after {operator!r}, got {value.text!r}")
    if operator in _ORDERINGS:
        number = _as_number(value.text) if value.kind == "word" else None
        if number is None:
            raise _error(pattern, f"{operator!r} needs a number, got {value.text!r}")
        return _ValueTest(operator, number, lambda text: False, False)
    if value.kind == "regex":
        regex = _compile_regex(value.text, pattern)
        return _ValueTest(operator, None, lambda text: regex.search(text) is not None, True)
    number = _as_number(value.text) if value.kind == "word" else None
    return _ValueTest(operator, number, _wildcard_matcher(value.text), False)


def _test_json_value(test: _ValueTest, value: Any) -> bool:
    """A JSON comparison applies only to a value node (string, number, boolean): arrays,
    objects, null and missing fields fail both `=` and `!=` (JSON special considerations)."""
    if value is None or value is _MISSING or type(value) in (dict, list):
        return False
    if test.operator in _ORDERINGS:
        number = _json_number(value)
        return number is not None and _ORDERINGS[test.operator](number, test.number)  # type: ignore[arg-type]
    equal = _equals(test, _json_number(value), _json_text(value))
    return equal if test.operator == "=" else not equal


def _test_field_value(test: _ValueTest, text: str) -> bool:
    if test.operator in _ORDERINGS:
        number = _as_number(text)
        return number is not None and _ORDERINGS[test.operator](number, test.number)  # type: ignore[arg-type]
    equal = _equals(test, None if test.number is None else _as_number(text), text)
    return equal if test.operator == "=" else not equal


def _equals(test: _ValueTest, number: float | None, text: str | None) -> bool:
    if test.number is not None and number is not None:
        return number == test.number
    return text is not None and test.text_matches(text)


# ---------------------------------------------------------------------------------- JSON

_PathStep = str | int


def _parse_selector(text: str, pattern: str) -> tuple[_PathStep, ...]:
    """`$.a.b[0][1].c` -> ("a", "b", 0, 1, "c"). Property selectors start at the root `$`;
    array indexes must follow a property (JSON "SELECTOR")."""
    if not text.startswith("$."):
        raise _error(pattern, f"a JSON selector starts with '$.', got {text!r}")
    steps: list[_PathStep] = []
    for part in text[2:].split("."):
        name, _, indexes = part.partition("[")
        if not name:
            raise _error(pattern, f"empty property name in selector {text!r}")
        steps.append(name)
        if indexes:
            for index in ("[" + indexes)[1:].split("["):
                if not index.endswith("]") or not index[:-1].isdigit():
                    raise _error(pattern, f"array index must be [NUMBER] in selector {text!r}")
                steps.append(int(index[:-1]))
    return tuple(steps)


def _resolve(document: Any, path: tuple[_PathStep, ...]) -> Any:
    node = document
    for step in path:
        if type(step) is str:
            if type(node) is not dict:
                return _MISSING
            node = node.get(step, _MISSING)
            if node is _MISSING:
                return _MISSING
        else:
            if type(node) is not list or step >= len(node):  # type: ignore[operator]
                return _MISSING
            node = node[step]  # type: ignore[index]
    return node


Alternatives = tuple[frozenset[str], ...]
_ANYTHING: Alternatives = (frozenset(),)  # no literal is needed
_MAX_ALTERNATIVES = 16


@dataclass(frozen=True, slots=True)
class _Condition:
    """A compiled (sub)expression and the literals a matching message must contain, as
    alternatives (any matching message contains every literal of at least one of them): they
    let most events be rejected with substring tests, before any parsing."""

    test: Callable[[Any], bool]
    alternatives: Alternatives

    @property
    def required(self) -> frozenset[str]:
        """The literals every matching message contains."""
        return _common(self.alternatives)


def _common(alternatives: Alternatives) -> frozenset[str]:
    return frozenset.intersection(*alternatives)


def _simplified(alternatives: Sequence[frozenset[str]]) -> Alternatives:
    """Without duplicates and supersets (implied by their subsets); the common literals alone
    when there would be too many to test."""
    unique = set(alternatives)
    kept = tuple(
        sorted(
            (a for a in unique if not any(b < a for b in unique)),
            key=lambda a: (len(a), sorted(a)),
        )
    )
    return kept if len(kept) <= _MAX_ALTERNATIVES else (_common(kept),)


def _both(left: Alternatives, right: Alternatives) -> Alternatives:
    if len(left) * len(right) > _MAX_ALTERNATIVES:
        return (_common(left) | _common(right),)
    return _simplified([a | b for a in left for b in right])


def _all_of(operands: list[_Condition]) -> _Condition:
    if len(operands) == 1:
        return operands[0]
    tests = tuple(operand.test for operand in operands)
    alternatives = _ANYTHING
    for operand in operands:
        alternatives = _both(alternatives, operand.alternatives)
    return _Condition(lambda subject: all(test(subject) for test in tests), alternatives)


def _any_of(operands: list[_Condition]) -> _Condition:
    if len(operands) == 1:
        return operands[0]
    tests = tuple(operand.test for operand in operands)
    return _Condition(
        lambda subject: any(test(subject) for test in tests),
        _simplified([a for operand in operands for a in operand.alternatives]),
    )


def _literal_of(test: _ValueTest, value: _Token) -> frozenset[str]:
    """The text an `=` comparison needs to find in the raw message."""
    if test.operator != "=" or test.is_regex or test.number is not None:
        return frozenset()
    core = value.text.strip("*")
    return frozenset((core,)) if core else frozenset()


_VALUE_NODE_TYPES = (str, int, float, bool)


def _json_comparison(
    path: tuple[_PathStep, ...], test: _ValueTest, value: _Token
) -> Callable[[Any], bool]:
    """Specialised for the usual one-property selector; the general path otherwise."""
    if len(path) != 1:
        return lambda document: _test_json_value(test, _resolve(document, path))
    key = path[0]
    is_plain_text = not test.is_regex and _as_number(value.text) is None and "*" not in value.text
    if test.operator == "=" and is_plain_text:
        literal = value.text  # only a JSON string can equal a non-numeric literal
        return lambda document: document.get(key) == literal
    if test.operator == "=" and value.text == "*":
        return lambda document: type(document.get(key)) in _VALUE_NODE_TYPES
    if test.operator in _ORDERINGS:
        compare, bound = _ORDERINGS[test.operator], test.number

        def ordered(document: Any) -> bool:
            number = document.get(key)
            return (type(number) is int or type(number) is float) and compare(float(number), bound)  # type: ignore[arg-type]

        return ordered
    return lambda document: _test_json_value(test, document.get(key, _MISSING))


class _BooleanParser:
    """`or` below `and` below the operands each syntax defines in `parse_operand`."""

    def __init__(self, stream: _TokenStream) -> None:
        self.stream = stream
        self.regex_count = 0

    def parse_or(self) -> _Condition:
        operands = [self.parse_and()]
        while self.stream.take_if("or"):
            operands.append(self.parse_and())
        return _any_of(operands)

    def parse_and(self) -> _Condition:
        operands = [self.parse_operand()]
        while self.stream.take_if("and"):
            operands.append(self.parse_operand())
        return _all_of(operands)

    def parse_operand(self) -> _Condition:
        raise NotImplementedError


class _JsonParser(_BooleanParser):
    """`{ expr }` with `||` below `&&` below parentheses ("JSON compound conditions")."""

    def parse_operand(self) -> _Condition:
        stream = self.stream
        if stream.take_if("("):
            inner = self.parse_or()
            if not stream.take_if(")"):
                raise stream.fail("expected ')'")
            return inner
        selector = stream.take()
        if selector.kind != "word" or not selector.text.startswith("$"):
            raise _error(stream.pattern, f"expected a selector like $.field, got {selector.text!r}")
        path = _parse_selector(selector.text, stream.pattern)
        # Unless escaped (then the message has a backslash), keys appear verbatim in the JSON.
        keys = frozenset(f'"{step}"' for step in path if type(step) is str)
        keyword = stream.peek()
        if keyword is not None and keyword.kind == "word" and keyword.text in ("IS", "NOT"):
            return self._parse_keyword_test(path, keys)
        operator = stream.take_if("op")
        if operator is None:
            raise stream.fail(f"expected an operator after {selector.text}")
        value = stream.take()
        if value.kind == "regex":
            self.regex_count += 1
        test = _value_test(operator.text, value, stream)
        return _Condition(_json_comparison(path, test, value), (keys | _literal_of(test, value),))

    def _parse_keyword_test(self, path: tuple[_PathStep, ...], keys: frozenset[str]) -> _Condition:
        stream = self.stream
        first, second = stream.take().text, stream.take()
        phrase = f"{first} {second.text}" if second.kind == "word" else first
        if phrase == "IS NULL":
            return _Condition(lambda document: _resolve(document, path) is None, (keys,))
        if phrase == "NOT EXISTS":
            return _Condition(lambda document: _resolve(document, path) is _MISSING, _ANYTHING)
        if phrase == "IS TRUE":
            return _Condition(lambda document: _resolve(document, path) is True, (keys,))
        if phrase == "IS FALSE":
            return _Condition(lambda document: _resolve(document, path) is False, (keys,))
        raise _error(
            stream.pattern, f"unknown test {phrase!r} (IS NULL, IS TRUE, IS FALSE, NOT EXISTS)"
        )


def _compile_json(pattern: str, body: str) -> CompiledPattern:
    stream = _TokenStream(_tokenize(body, pattern), pattern)
    if not stream.tokens:
        raise _error(pattern, "empty JSON pattern")
    parser = _JsonParser(stream)
    condition = parser.parse_or()
    if stream.peek() is not None:
        raise stream.fail("unexpected token")
    if parser.regex_count > _MAX_REGEXES_PER_PATTERN:
        raise _error(pattern, f"at most {_MAX_REGEXES_PER_PATTERN} %regex% per pattern")
    test, required = condition.test, tuple(condition.required)

    def evaluate(event: LogEvent) -> Extracted | None:
        message = event.message
        if "\\" not in message:
            for literal in required:
                if literal not in message:
                    return None
        document = event.document()
        return _NO_VALUES if document is not _NOT_JSON and test(document) else None

    return CompiledPattern(
        pattern, "json", evaluate, alternatives=condition.alternatives, check=test
    )


# ---------------------------------------------------------------------------- space-delimited


@dataclass(frozen=True, slots=True)
class _Slot:
    """One comma-separated entry of `[...]`: `...`, an anonymous field, or a named field."""

    is_ellipsis: bool
    name: str | None


@dataclass(frozen=True, slots=True)
class _SlotCondition:
    condition: _Condition  # tests a mapping of field name -> value
    names: frozenset[str]  # the fields it reads
    text_test: Callable[[str], bool]  # when it reads one field: the test of its value
    equals: str | None  # when that test is equality with this text


@dataclass(frozen=True, slots=True)
class _Leaf:
    text_test: Callable[[str], bool]
    equals: str | None


class _DelimitedParser(_BooleanParser):
    def __init__(self, stream: _TokenStream) -> None:
        super().__init__(stream)
        self.names_read: set[str] = set()
        self.leaves: list[_Leaf] = []

    def parse(self) -> tuple[list[_Slot], list[_SlotCondition]]:
        slots: list[_Slot] = []
        conditions: list[_SlotCondition] = []
        while True:
            slot, condition = self.parse_slot()
            slots.append(slot)
            if condition is not None:
                conditions.append(condition)
            if self.stream.take_if(","):
                continue
            if self.stream.peek() is not None:
                raise self.stream.fail("expected ',' between fields")
            return slots, conditions

    def parse_slot(self) -> tuple[_Slot, _SlotCondition | None]:
        stream = self.stream
        token = stream.peek()
        if token is None or token.kind == ",":
            return _Slot(False, None), None  # `[a,,b]` and a trailing comma: unnamed field
        if stream.take_if("ellipsis"):
            return _Slot(True, None), None
        if token.kind != "word" or not _FIELD_NAME.fullmatch(token.text):
            raise stream.fail("expected a field name")
        name = token.text
        following = (
            stream.tokens[stream.index + 1] if stream.index + 1 < len(stream.tokens) else None
        )
        if following is None or following.kind == ",":
            stream.take()
            return _Slot(False, name), None
        self.names_read, self.leaves = set(), []
        condition = self.parse_or()
        if len(self.leaves) == 1:
            leaf = self.leaves[0]
        else:
            (field,) = self.names_read if len(self.names_read) == 1 else (None,)
            test = condition.test
            leaf = _Leaf(lambda text: test({field: text}), None)
        names = frozenset(self.names_read)
        return _Slot(False, name), _SlotCondition(condition, names, leaf.text_test, leaf.equals)

    def parse_operand(self) -> _Condition:
        stream = self.stream
        name = stream.take()
        if name.kind != "word" or not _FIELD_NAME.fullmatch(name.text):
            raise _error(stream.pattern, f"expected a field name, got {name.text!r}")
        operator = stream.take_if("op")
        if operator is None:
            raise stream.fail(f"expected an operator after {name.text}")
        value = stream.take()
        if value.kind == "regex":
            self.regex_count += 1
        test = _value_test(operator.text, value, stream)
        field = name.text
        self.names_read.add(field)
        if operator.text == "=" and _is_plain_text(test, value):
            self.leaves.append(_Leaf(functools.partial(operator_module.eq, value.text), value.text))
        else:
            self.leaves.append(_Leaf(lambda text: _test_field_value(test, text), None))
        return _Condition(
            lambda fields: _test_field_value(test, fields[field]), (_literal_of(test, value),)
        )


def _is_plain_text(test: _ValueTest, value: _Token) -> bool:
    """`= value` is string equality (no number, no wildcard, no regex)."""
    return (
        not test.is_regex
        and test.number is None
        and not value.text.startswith("*")
        and not value.text.endswith("*")
    )


def _compile_delimited(pattern: str, body: str) -> CompiledPattern:
    stream = _TokenStream(_tokenize(body, pattern), pattern)
    parser = _DelimitedParser(stream)
    slots, conditions = parser.parse()
    names = [slot.name for slot in slots if slot.name]
    if len(names) != len(set(names)):
        raise _error(pattern, "a field name is used twice")
    unknown = frozenset().union(*(c.names for c in conditions)) - set(names)
    if unknown:
        raise _error(pattern, f"condition on undeclared field(s) {sorted(unknown)}")
    if parser.regex_count > _MAX_REGEXES_PER_PATTERN:
        raise _error(pattern, f"at most {_MAX_REGEXES_PER_PATTERN} %regex% per pattern")
    layout = _Layout(slots)
    # Conditions on fields before the first or after the last `...` are checked once per
    # event; only those between two ellipses are tried for every placement.
    early = [c.condition.test for c in conditions if c.names <= layout.anchored_names]
    late = [c.condition.test for c in conditions if not c.names <= layout.anchored_names]
    alternatives = _ANYTHING
    for c in conditions:
        alternatives = _both(alternatives, c.condition.alternatives)
    required = tuple(_common(alternatives))

    def evaluate(event: LogEvent) -> Extracted | None:
        message = event.message
        for literal in required:
            if literal not in message:
                return None
        return check(event)

    def general_check(event: LogEvent) -> Extracted | None:
        values = event.fields()
        anchored = layout.anchored(values)
        if anchored is None or not all(test(anchored) for test in early):
            return None
        for positions in layout.placements(len(values)):
            fields = anchored | {name: values[position] for name, position in positions.items()}
            if all(test(fields) for test in late):
                return layout.extract(values, anchored, positions)
        return None

    check = _fast_delimited_check(layout, conditions) or general_check

    return CompiledPattern(
        pattern,
        "delimited",
        evaluate,
        frozenset(names),
        alternatives=alternatives,
        check=check,
    )


def _fast_delimited_check(
    layout: _Layout, conditions: list[_SlotCondition]
) -> Callable[[LogEvent], Extracted | None] | None:
    """The check of the usual layouts (at most one block of fields between two ellipses, each
    condition on one field) without mappings: conditions test the field texts by position,
    and the block is only tried where a field equals the text one of its conditions needs
    (list.index, in C). None for the other layouts."""
    if any(slot.is_ellipsis for slot in layout.middle) or any(
        len(c.names) != 1 for c in conditions
    ):
        return None
    positions = {name: index for index, name in layout.left}
    positions.update((name, -offset) for offset, name in layout.right)  # from the end
    block = {slot.name: offset for offset, slot in enumerate(layout.middle) if slot.name}
    early: list[tuple[int, Callable[[str], bool]]] = []
    late: list[tuple[int, Callable[[str], bool]]] = []
    anchor: tuple[int, str] | None = None
    for condition in conditions:
        (name,) = condition.names
        if name in positions:
            early.append((positions[name], condition.text_test))
        elif anchor is None and condition.equals is not None:
            anchor = (block[name], condition.equals)
        else:
            late.append((block[name], condition.text_test))
    minimum, exact, head = layout.minimum, layout.exact, layout.head
    span = len(layout.middle)
    last_start = layout.tail + span  # the block starts at most this far from the end
    left_keys = [(index, f"${name}") for index, name in layout.left]
    right_keys = [(offset, f"${name}") for offset, name in layout.right]
    block_keys = [(offset, f"${name}") for name, offset in block.items()]
    left_positions = frozenset(index for index, _ in layout.left)
    anchor_offset, anchor_text = anchor if anchor is not None else (0, "")

    def extract(values: list[str], start: int) -> Extracted:
        count = len(values)
        named = {key: values[index] for index, key in left_keys}
        positions = set(left_positions)
        for offset, key in right_keys:
            named[key] = values[count - offset]
            positions.add(count - offset)
        for offset, key in block_keys:
            named[key] = values[start + offset]
            positions.add(start + offset)
        return _DelimitedFields(values, named, positions)

    def check(event: LogEvent) -> Extracted | None:
        values = event.fields()
        count = len(values)
        if count < minimum or (exact and count != minimum):
            return None
        for position, test in early:
            if not test(values[position]):
                return None
        if not span:
            return extract(values, 0)
        end = count - last_start  # the last start, inclusive
        if anchor is None:
            for start in range(head, end + 1):
                for offset, test in late:
                    if not test(values[start + offset]):
                        break
                else:
                    return extract(values, start)
            return None
        position, stop = head + anchor_offset, end + anchor_offset + 1
        while position < stop:
            try:
                position = values.index(anchor_text, position, stop)
            except ValueError:
                return None
            start = position - anchor_offset
            for offset, test in late:
                if not test(values[start + offset]):
                    break
            else:
                return extract(values, start)
            position += 1
        return None

    return check


class _Layout:
    """Where the slots of a space-delimited pattern fall on the fields of one event."""

    def __init__(self, slots: Sequence[_Slot]) -> None:
        ellipses = [index for index, slot in enumerate(slots) if slot.is_ellipsis]
        first = ellipses[0] if ellipses else len(slots)
        last = ellipses[-1] if ellipses else len(slots)
        self.left = [(index, slot.name) for index, slot in enumerate(slots[:first]) if slot.name]
        tail = slots[last + 1 :] if ellipses else []
        self.right = [
            (len(tail) - index, slot.name) for index, slot in enumerate(tail) if slot.name
        ]
        self.middle = list(slots[first + 1 : last]) if ellipses else []
        self.minimum = sum(1 for slot in slots if not slot.is_ellipsis)
        self.exact = not ellipses
        self.head, self.tail = first, len(tail)
        self.anchored_names = frozenset(name for _, name in self.left + self.right)

    def anchored(self, values: list[str]) -> dict[str, str] | None:
        count = len(values)
        if count < self.minimum or (self.exact and count != self.minimum):
            return None
        fields = {name: values[index] for index, name in self.left}
        fields.update((name, values[count - offset]) for offset, name in self.right)
        return fields

    def placements(self, count: int) -> Iterator[dict[str, int]]:
        """Positions of the named middle slots, for every way the ellipses can stretch."""
        if not self.middle:
            yield {}
            return
        if not any(slot.is_ellipsis for slot in self.middle):  # one contiguous block
            named = [(offset, slot.name) for offset, slot in enumerate(self.middle) if slot.name]
            for start in range(self.head, count - self.tail - len(self.middle) + 1):
                yield {name: start + offset for offset, name in named}
            return
        for positions in _assignments(self.middle, 0, self.head, count - self.tail):
            yield {
                slot.name: position
                for slot, position in zip(self.middle, positions, strict=True)
                if slot.name is not None
            }

    def extract(
        self, values: list[str], anchored: Mapping[str, str], middle: Mapping[str, int]
    ) -> Extracted:
        named = {f"${name}": value for name, value in anchored.items()}
        named.update({f"${name}": values[position] for name, position in middle.items()})
        count = len(values)
        positions = {index for index, _ in self.left}
        positions.update(count - offset for offset, _ in self.right)
        positions.update(middle.values())
        return _DelimitedFields(values, named, positions)


class _DelimitedFields(Mapping[str, str]):
    """Named fields as $name, the others (and those under an ellipsis) as $N, 1-based; the
    positional ones are only built when someone asks for all of them (TestMetricFilter)."""

    __slots__ = ("_named", "_named_positions", "_values")

    def __init__(self, values: list[str], named: dict[str, str], positions: set[int]) -> None:
        self._values, self._named, self._named_positions = values, named, positions

    def __getitem__(self, key: str) -> str:
        if key in self._named:
            return self._named[key]
        index = int(key[1:]) - 1 if _POSITIONAL.fullmatch(key[1:]) else -1
        if 0 <= index < len(self._values) and index not in self._named_positions:
            return self._values[index]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:  # Mapping.get, minus a try/except
        value = self._named.get(key, _MISSING)
        if value is not _MISSING:
            return value
        try:
            return self[key]
        except KeyError:
            return default

    def _all(self) -> dict[str, str]:
        unnamed = {
            f"${index + 1}": value
            for index, value in enumerate(self._values)
            if index not in self._named_positions
        }
        return unnamed | self._named

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._values)


def _assignments(
    slots: Sequence[_Slot], slot_index: int, position: int, end: int, may_skip: bool = True
) -> Iterator[list[int]]:
    """Every way to lay `slots` over the fields [position, end) that lie between two ellipses:
    a field slot takes one field, an ellipsis any number (-1 marks it), earliest first."""
    if slot_index == len(slots):
        yield []
        return
    if slots[slot_index].is_ellipsis:
        for rest in _assignments(slots, slot_index + 1, position, end, True):
            yield [-1, *rest]
        return
    remaining_fixed = sum(1 for slot in slots[slot_index:] if not slot.is_ellipsis)
    last_start = end - remaining_fixed if may_skip else min(position, end - remaining_fixed)
    for start in range(position, last_start + 1):
        for rest in _assignments(slots, slot_index + 1, start + 1, end, False):
            yield [start, *rest]


# ---------------------------------------------------------------------------------- terms


def _compile_terms(pattern: str) -> CompiledPattern:
    """Unstructured patterns: every plain term must appear, no `-term` may, and if there are
    `?term`s at least one must ("Matching terms in unstructured log events")."""
    required: list[str] = []
    any_of: list[str] = []
    excluded: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char.isspace():
            index += 1
            continue
        target = required
        if char in "?-":
            target = any_of if char == "?" else excluded
            index += 1
            while index < len(pattern) and pattern[index].isspace():
                index += 1  # the docs write `"ERROR" - "Exiting"` with a space after the minus
            if index == len(pattern):
                raise _error(pattern, f"{char!r} without a term")
        if pattern[index] == '"':
            term, index = _read_quoted(pattern, index, pattern)
        else:
            start = index
            while index < len(pattern) and not pattern[index].isspace() and pattern[index] != '"':
                index += 1
            term = pattern[start:index]
        if not term:
            raise _error(pattern, "empty quoted term")
        target.append(term)

    alternatives = (
        tuple(frozenset((*required, term)) for term in any_of) if any_of else (frozenset(required),)
    )
    if not any_of and not excluded and len(required) == 1:
        only = required[0]
        return CompiledPattern(
            pattern,
            "terms",
            lambda event: _NO_VALUES if only in event.message else None,
            alternatives=alternatives,
            exact=True,
        )

    def evaluate(event: LogEvent) -> Extracted | None:  # plain loops: faster than all()/any()
        message = event.message
        for term in required:
            if term not in message:
                return None
        for term in excluded:
            if term in message:
                return None
        if not any_of:
            return _NO_VALUES
        for term in any_of:
            if term in message:
                return _NO_VALUES
        return None

    return CompiledPattern(
        pattern,
        "terms",
        evaluate,
        alternatives=_simplified(alternatives),
        exact=not excluded and len(set(any_of)) <= _MAX_ALTERNATIVES,  # else only their common
    )


# ---------------------------------------------------------------------------------- patterns


class CompiledPattern:
    """A parsed filter pattern. `evaluate` returns None for no match, else the extracted
    values (named `$field`/`$N` fields of a space-delimited pattern, empty otherwise).

    For MetricFilterSet: a matching message contains all the literals of one of
    `alternatives` (for a JSON pattern, unless the message has a backslash: escapes); when
    `exact`, containing them is matching. `check` finishes what the literals began: it takes
    the parsed document of a JSON pattern, the LogEvent otherwise."""

    __slots__ = ("alternatives", "check", "evaluate", "exact", "field_names", "kind", "pattern")

    def __init__(
        self,
        pattern: str,
        kind: PatternKind,
        evaluate: Evaluator,
        field_names: frozenset[str] = frozenset(),
        *,
        alternatives: Alternatives = _ANYTHING,
        exact: bool = False,
        check: Callable[[Any], Any] | None = None,
    ) -> None:
        self.pattern = pattern
        self.kind = kind
        self.evaluate = evaluate
        self.field_names = field_names
        self.alternatives = alternatives
        self.exact = exact
        self.check = evaluate if check is None else check

    def matches(self, event: LogEvent | str) -> bool:
        if isinstance(event, str):
            event = LogEvent(event)
        return self.evaluate(event) is not None


_NO_VALUES: Extracted = {}


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> CompiledPattern:
    """Parse a filter pattern; raises FilterPatternError when it is malformed."""
    text = pattern.strip()
    if not text:
        return CompiledPattern(pattern, "all", _match_all, exact=True)
    if text.startswith("{"):
        if not text.endswith("}"):
            raise _error(pattern, "a JSON pattern must end with '}'")
        return _compile_json(pattern, text[1:-1])
    if text.startswith("["):
        if not text.endswith("]"):
            raise _error(pattern, "a space-delimited pattern must end with ']'")
        return _compile_delimited(pattern, text[1:-1])
    if len(text) > 1 and text.startswith("%") and text.endswith("%"):
        regex = _compile_regex(text[1:-1], pattern)
        return CompiledPattern(
            pattern, "regex", lambda event: _NO_VALUES if regex.search(event.message) else None
        )
    if len(text) > 2 and text.startswith('"') and text.endswith('"') and not text[1:-1].strip():
        # `" "` matches every event ("Matching everything")
        return CompiledPattern(pattern, "all", _match_all, exact=True)
    return _compile_terms(pattern)


def _match_all(event: LogEvent) -> Extracted:
    return _NO_VALUES


# ---------------------------------------------------------------------------- metric filters


class Datapoint(NamedTuple):  # a NamedTuple: built per matching event, and cheap to build
    namespace: str
    metric_name: str
    value: float
    unit: str | None
    dimensions: tuple[tuple[str, str], ...]


_ValueGetter = Callable[[LogEvent, Extracted], Any]


def _selector_getter(selector: str, compiled: CompiledPattern, role: str) -> _ValueGetter:
    """`$.path` reads the JSON event, `$name`/`$N` a space-delimited field."""
    where = f"{role} {selector!r}"
    if selector.startswith("$."):
        if compiled.kind != "json":
            raise FilterPatternError(f"Invalid {where}: $. selectors need a JSON filter pattern")
        path = _parse_selector(selector, compiled.pattern)
        if len(path) == 1:
            key = path[0]
            return lambda event, extracted: event.document().get(key, _MISSING)
        return lambda event, extracted: _resolve(event.document(), path)
    name = selector[1:]
    if compiled.kind != "delimited" or not (
        name in compiled.field_names or _POSITIONAL.fullmatch(name)
    ):
        raise FilterPatternError(
            f"Invalid {where}: not a field of the space-delimited filter pattern"
        )
    return lambda event, extracted: extracted.get(selector, _MISSING)


def _metric_number(value: Any) -> float | None:
    """Only numbers become datapoints (a non-numeric metricValue publishes nothing)."""
    if type(value) is str:
        return _as_number(value.strip())
    return _json_number(value)


def _dimension_text(value: Any) -> str | None:
    if type(value) is bool:
        return "true" if value else "false"
    text = _json_text(value)
    return text if text else None


@dataclass(frozen=True, slots=True)
class _Transformation:
    namespace: str
    metric_name: str
    value: _ValueGetter | float
    default_value: float | None
    unit: str | None
    dimensions: tuple[tuple[str, _ValueGetter], ...]

    @property
    def default_datapoint(self) -> Datapoint | None:
        if self.default_value is None:
            return None
        return Datapoint(self.namespace, self.metric_name, self.default_value, self.unit, ())


def _compile_transformation(spec: Mapping[str, Any], compiled: CompiledPattern) -> _Transformation:
    raw_value = str(spec.get("metricValue", "")).strip()
    value: _ValueGetter | float
    if raw_value.startswith("$"):
        value = _selector_getter(raw_value, compiled, "metricValue")
    else:
        number = _as_number(raw_value)
        if number is None:
            raise FilterPatternError(f"Invalid metricValue {raw_value!r}: a number or a $ selector")
        value = number
    dimensions_spec: Mapping[str, str] = spec.get("dimensions") or {}
    if len(dimensions_spec) > _MAX_DIMENSIONS:
        raise FilterPatternError(f"A metric filter can have at most {_MAX_DIMENSIONS} dimensions")
    default = spec.get("defaultValue")
    if dimensions_spec and default is not None:
        raise FilterPatternError("defaultValue cannot be combined with dimensions")
    dimensions = []
    for key, selector in dimensions_spec.items():
        if not str(selector).startswith("$"):
            raise FilterPatternError(f"Invalid dimension {key!r}: its value must be a $ selector")
        dimensions.append((key, _selector_getter(str(selector), compiled, f"dimension {key}")))
    return _Transformation(
        namespace=spec["metricNamespace"],
        metric_name=spec["metricName"],
        value=value,
        default_value=None if default is None else float(default),
        unit=spec.get("unit"),
        dimensions=tuple(dimensions),
    )


class MetricFilter:
    """A filter pattern with its metric transformations (the API's `metricTransformations`
    shape), turning one log event into the datapoints CloudWatch Logs would publish."""

    __slots__ = ("_constant", "_defaults", "_evaluate", "_single", "_transformations", "pattern")

    def __init__(
        self, filter_pattern: str, metric_transformations: Sequence[Mapping[str, Any]]
    ) -> None:
        self.pattern = compile_pattern(filter_pattern)
        self._transformations = tuple(
            _compile_transformation(spec, self.pattern) for spec in metric_transformations
        )
        self._defaults = tuple(
            datapoint
            for datapoint in (t.default_datapoint for t in self._transformations)
            if datapoint is not None
        )
        self._evaluate = self.pattern.evaluate
        # Counting filters (literal value, no dimensions) publish the same datapoints each match.
        self._constant = (
            tuple(
                Datapoint(t.namespace, t.metric_name, t.value, t.unit, ())  # type: ignore[arg-type]
                for t in self._transformations
            )
            if all(type(t.value) is float and not t.dimensions for t in self._transformations)
            else None
        )
        only = self._transformations[0] if len(self._transformations) == 1 else None
        self._single = (
            (only.value, only.namespace, only.metric_name, only.unit)
            if only is not None and type(only.value) is not float and not only.dimensions
            else None
        )

    def datapoints(self, event: LogEvent) -> Sequence[Datapoint]:
        """The datapoints of one event: the metric value when it matches (nothing when that
        value or a dimension is not there or not numeric), defaultValue when it does not."""
        extracted = self._evaluate(event)
        if extracted is None:
            return self._defaults
        if self._constant is not None:
            return self._constant
        return self._matched(event, extracted)

    def _matched(self, event: LogEvent, extracted: Extracted) -> Sequence[Datapoint]:
        if self._single is not None:  # one metric from a selector, no dimensions: the usual
            getter, namespace, metric_name, unit = self._single
            value = getter(event, extracted)
            if type(value) is float:
                number: float | None = value
            elif type(value) is int:
                number = float(value)
            else:
                number = _metric_number(value)
            return () if number is None else (Datapoint(namespace, metric_name, number, unit, ()),)
        datapoints: list[Datapoint] = []
        for transformation in self._transformations:
            value = transformation.value
            number = value if type(value) is float else _metric_number(value(event, extracted))  # type: ignore[operator]
            if number is None:
                continue
            dimensions = []
            for key, getter in transformation.dimensions:
                text = _dimension_text(getter(event, extracted))
                if text is None:
                    break
                dimensions.append((key, text))
            else:
                datapoints.append(
                    Datapoint(
                        transformation.namespace,
                        transformation.metric_name,
                        number,
                        transformation.unit,
                        tuple(dimensions),
                    )
                )
        return datapoints


# ------------------------------------------------------------------------ batches of events

_LOOKS_JSON = 1  # mask bits of MetricFilterSet: the message starts with `{`,
_HAS_BACKSLASH = 2  # and has a backslash (JSON escapes: literals say nothing)
# (kind, check, defaults or the points of a _POINTS step, constant datapoints, _matched)
_PlanStep = tuple[int, Any, tuple[Datapoint, ...], Any, Any]
_MAX_PLANS = 4096
_POINTS, _JSON_CHECK, _EVENT_CHECK = 0, 1, 2


class MetricFilterSet:
    """The metric filters of one log group, applied to a batch of events (PutLogEvents): the
    same datapoints, in the same order, as MetricFilter.datapoints for each event and filter.

    Each event is read once for the literals of all the filters (one substring test per
    distinct literal, those of JSON filters only in messages that start with `{`); which
    literals it has (a bit mask) decides, through a plan built once per mask, which filters
    cannot match (their defaults), which surely match (counting terms) and which still need a
    check; the JSON document is parsed once, and only when some JSON filter needs it."""

    __slots__ = ("_filters", "_json_literals", "_masks", "_plans", "_text_literals")

    def __init__(self, metric_filters: Sequence[MetricFilter]) -> None:
        self._filters = tuple(metric_filters)
        bits: dict[str, int] = {}
        text: list[tuple[str, int]] = []
        json_only: list[str] = []
        for kind_is_json in (False, True):  # a literal of both kinds is tested in every event
            for metric_filter in self._filters:
                pattern = metric_filter.pattern
                if (pattern.kind == "json") is not kind_is_json:
                    continue
                for literal in sorted(frozenset().union(*pattern.alternatives)):
                    if literal not in bits:
                        bits[literal] = 1 << (len(bits) + 2)
                        (json_only if kind_is_json else text).append(literal)
        self._text_literals = tuple((literal, bits[literal]) for literal in text)
        self._json_literals = (
            tuple((literal, bits[literal]) for literal in json_only)
            if any(f.pattern.kind == "json" for f in self._filters)
            else None
        )
        self._plans: dict[int, tuple[_PlanStep, ...]] = {}
        self._masks = tuple(  # per filter, the bit masks of its alternatives
            tuple(sum(bits[literal] for literal in alternative) for alternative in alternatives)
            for alternatives in (f.pattern.alternatives for f in self._filters)
        )

    def _plan(self, mask: int) -> tuple[_PlanStep, ...]:
        steps: list[_PlanStep] = []

        def emit(points: Sequence[Datapoint]) -> None:
            if not points:
                return
            if steps and steps[-1][0] == _POINTS:
                steps[-1] = (_POINTS, None, steps[-1][2] + tuple(points), None, None)
            else:
                steps.append((_POINTS, None, tuple(points), None, None))

        def check(kind: int, metric_filter: MetricFilter) -> None:
            steps.append(
                (
                    kind,
                    metric_filter.pattern.check,
                    metric_filter._defaults,
                    metric_filter._constant,
                    metric_filter._matched,
                )
            )

        for metric_filter, masks in zip(self._filters, self._masks, strict=True):
            pattern = metric_filter.pattern
            literals_hold = any(mask & need == need for need in masks)
            if pattern.kind == "json":
                if not mask & _LOOKS_JSON or not (mask & _HAS_BACKSLASH or literals_hold):
                    emit(metric_filter._defaults)
                else:
                    check(_JSON_CHECK, metric_filter)
            elif not literals_hold:
                emit(metric_filter._defaults)
            elif pattern.exact and metric_filter._constant is not None:
                emit(metric_filter._constant)
            else:
                check(_EVENT_CHECK, metric_filter)
        plan = tuple(steps)
        if len(self._plans) >= _MAX_PLANS:  # varied logs and many literals: start over
            self._plans.clear()
        self._plans[mask] = plan
        return plan

    def datapoints(self, messages: Iterable[str]) -> list[tuple[int, Datapoint]]:
        """(index of the event in `messages`, datapoint) pairs, event by event."""
        results: list[tuple[int, Datapoint]] = []
        append = results.append
        plans = self._plans
        text_literals, json_literals = self._text_literals, self._json_literals
        for index, message in enumerate(messages):
            mask = 0
            for literal, bit in text_literals:
                if literal in message:
                    mask |= bit
            first = message[:1]
            if json_literals is not None and (
                first == "{" or (first.isspace() and message.lstrip().startswith("{"))
            ):
                if "\\" in message:
                    mask |= _LOOKS_JSON | _HAS_BACKSLASH
                else:
                    mask |= _LOOKS_JSON
                    for literal, bit in json_literals:
                        if literal in message:
                            mask |= bit
            plan = plans.get(mask)
            if plan is None:
                plan = self._plan(mask)
            event = None
            for step, check, defaults, constant, matched in plan:
                if step == _POINTS:
                    for point in defaults:
                        append((index, point))
                    continue
                if event is None:
                    event = LogEvent(message)
                if step == _JSON_CHECK:
                    document = event.document()
                    extracted = (
                        _NO_VALUES if document is not _NOT_JSON and check(document) else None
                    )
                else:
                    extracted = check(event)
                if extracted is None:
                    points = defaults
                elif constant is not None:
                    points = constant
                else:
                    points = matched(event, extracted)
                for point in points:
                    append((index, point))
        return results
