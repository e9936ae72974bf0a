"""Command-line options generated from config dataclasses: each option is defined once.

A command is a config dataclass (its fields are the command's options: name, type and default
from the field, help from `field(metadata={"help": ...})` or the class docstring's Google-style
`Attributes:` section) plus a few parameters outside it (positional arguments, `--threads`,
`--json`). The options given on the command line are told from defaults by their source, so
settings stack: dataclass defaults < (a recipe or preset) < `--config FILE` < flags.

`--config FILE` reads options from JSON (`.json`, or any other name) or TOML (`.toml`): an
object whose keys are the command's option names (`batch_size` or `batch-size`).
`--print-config` prints the resolved options as JSON, a file `--config` reads back, and exits.
Positional arguments (the model, the images) are not options: a config file is a recipe that
applies to any of them.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import torch
import typer

from .app import app

try:
    import tomllib  # the standard library from Python 3.11
except ImportError:  # Python 3.10: config files in JSON only
    tomllib = None

REQUIRED = ...  # the default of a parameter that must be given


@dataclass(frozen=True)
class Param:
    """One command-line parameter: a config field, a positional argument or a runtime option.

    Attributes:
        name: the Python name the handler receives.
        type: the value type (`X | None` is read as X; a list is a repeatable option).
        help: the one-line help text.
        default: the value when not given (REQUIRED: none, the parameter must be given).
        flags: the option's spellings (default `--kebab-name`, bools `--x/--no-x`).
        argument: a positional argument instead of an option.
        min: the smallest value accepted (numbers).
        max: the largest value accepted (numbers).
        show_default: False hides the default in --help.
    """

    name: str
    type: Any
    help: str
    default: Any = None
    flags: tuple[str, ...] = ()
    argument: bool = False
    min: float | None = None
    max: float | None = None
    show_default: bool = True

    def with_help(self, help: str) -> Param:
        """This parameter with a command's own help text."""
        return dataclasses.replace(self, help=help)

    def typer_parameter(self) -> inspect.Parameter:
        """This parameter as Typer reads it from a function signature."""
        kind = typer.Argument if self.argument else typer.Option
        info = kind(
            *self.flags,
            help=self.help,
            min=self.min,
            max=self.max,
            show_default=self.show_default and self.default is not None,
        )
        value_type = _value_type(self.type)
        if self.default is None:
            value_type = value_type | None
        return inspect.Parameter(
            self.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=self.default,
            annotation=Annotated[value_type, info],
        )


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    flags: tuple[str, ...] = (),
    min: float | None = None,
    max: float | None = None,
) -> Any:
    """A config dataclass field with its command-line help and spellings."""
    metadata = {"help": help, "flags": flags, "min": min, "max": max}
    if isinstance(default, (list, dict)):  # a mutable default is built per instance
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# Runtime options shared by several commands: one definition each.
THREADS = Param("threads", int, "CPU threads (default: PyTorch's)", min=1)
JSON = Param("as_json", bool, "print JSON instead of a table", default=False, flags=("--json",))
CONFIG = Param(
    "config_file",
    Path,
    "read options from a JSON or TOML file (options given on the command line win)",
    flags=("--config",),
)
PRINT_CONFIG = Param(
    "print_config",
    bool,
    "print the resolved options as JSON (a file --config reads) and exit",
    default=False,
    flags=("--print-config",),
)


def attribute_docs(cls: type) -> dict[str, str]:
    """{field: first sentence} from the `Attributes:` section of `cls`'s docstring."""
    docs: dict[str, str] = {}
    name = None
    in_section = False
    for line in (inspect.getdoc(cls) or "").splitlines():
        if line.strip() == "Attributes:":
            in_section = True
            continue
        if not in_section:
            continue
        entry = re.match(r"^ {4}(\w+): ?(.*)$", line)
        if entry:
            name = entry.group(1)
            docs[name] = entry.group(2)
        elif line.startswith("        ") and name:
            docs[name] += " " + line.strip()
        elif line.strip():  # the next section
            in_section = False
    return {k: _first_sentence(v) for k, v in docs.items()}


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip())[0]
    return sentence[:-1] if sentence.endswith(".") and not sentence.endswith("...") else sentence


def config_params(
    cls: type,
    *,
    exclude: Iterable[str] = (),
    only: Iterable[str] | None = None,
    help: Mapping[str, str] | None = None,
    defaults: bool = True,
    hide_defaults: Iterable[str] = (),
) -> list[Param]:
    """One option per field of the dataclass `cls` (`only` these, in this order), with the
    field's default (`defaults=False`: None, for options whose default depends on others);
    `help` supplies text for fields whose metadata and docstring give none; `hide_defaults`
    names fields whose default the command replaces (its help says with what)."""
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    skip = set(exclude)
    chosen = [f for f in dataclasses.fields(cls) if f.name not in skip]
    if only is not None:
        names = list(only)
        chosen = sorted((f for f in chosen if f.name in names), key=lambda f: names.index(f.name))
    params = []
    for f in chosen:
        text = f.metadata.get("help") or docs.get(f.name) or (help or {}).get(f.name, "")
        tp = hints[f.name]
        flags = tuple(f.metadata.get("flags", ()))
        if not flags and _value_type(tp) is bool:
            flags = (f"--{_kebab(f.name)}/--no-{_kebab(f.name)}",)
        default = _default(f) if defaults else None
        if default is REQUIRED:  # may come from --config FILE: checked once both are read
            default, text = None, f"{text} [required]"
        params.append(
            Param(
                f.name,
                tp,
                text,
                default=default,
                flags=flags,
                min=f.metadata.get("min"),
                max=f.metadata.get("max"),
                show_default=f.name not in hide_defaults,
            )
        )
    return params


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


def _value_type(tp: Any) -> Any:
    """The type Typer parses: X for `X | None`, str for a Literal, list[X] for a list."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"unsupported option type {tp!r}: only X | None unions")
        tp = rest[0]
    origin = typing.get_origin(tp)
    if origin is Literal:
        return str
    if origin is list:
        return list[_value_type(typing.get_args(tp)[0])]
    if tp in (str, int, float, bool, Path):
        return tp
    raise TypeError(f"unsupported option type {tp!r}; exclude the field or give it a Param")


def read_config_file(path: Path, cls: type) -> dict[str, Any]:
    """The settings in a JSON or TOML file, each checked against `cls`'s field types."""
    source = f"--config {path}"
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ValueError(f"{source}: cannot read it ({e.strerror or e})") from None
    toml = Path(path).suffix == ".toml"
    if toml and tomllib is None:
        raise ValueError(f"{source}: TOML needs Python 3.11 or later; write the file as JSON")
    try:
        raw = tomllib.loads(text) if toml else json.loads(text)
    except ValueError as e:  # TOMLDecodeError and JSONDecodeError both are
        raise ValueError(f"{source}: not valid {'TOML' if toml else 'JSON'} ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: expected an object of option names, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    settings = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in valid:
            raise ValueError(f"{source}: unknown option {key!r}; valid: {', '.join(valid)}")
        settings[name] = check_value(hints[name], value, f"{source}: {name}")
    return settings


def check_value(tp: Any, value: Any, what: str) -> Any:
    """`value` as type `tp` (an int is a float, a str a Path), or a one-line ValueError."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    origin = typing.get_origin(tp)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is Literal and value in typing.get_args(tp):
        return value
    if origin is list and isinstance(value, list):
        return [check_value(typing.get_args(tp)[0], v, what) for v in value]
    if (origin or tp) is dict and isinstance(value, dict):
        return value
    if (tp is bool and isinstance(value, bool)) or (tp is str and isinstance(value, str)):
        return value
    if tp is int and number and float(value).is_integer():
        return int(value)
    if tp is float and number:
        return float(value)
    if tp is Path and isinstance(value, str):
        return Path(value)
    expected = getattr(tp, "__name__", str(tp))
    if origin is Literal:
        expected = " | ".join(map(str, typing.get_args(tp)))
    raise ValueError(f"{what} must be {expected}, got {value!r}")


def make_config(cls: type, given: Mapping[str, Any]) -> Any:
    """`cls(**given)`, naming the required options that were not given."""
    missing = [
        f"--{_kebab(f.name)}"
        for f in dataclasses.fields(cls)
        if f.name not in given
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(
            f"missing option {', '.join(missing)} (on the command line or in --config)"
        )
    return cls(**given)


def to_jsonable(config: Any) -> dict[str, Any]:
    """A config dataclass as --print-config shows it (paths as text)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}


Build = Callable[..., Any]


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option `name` was given on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def config_command(
    name: str,
    cls: type | None,
    *,
    params: Iterable[Param] = (),
    exclude: Iterable[str] = (),
    help: Mapping[str, str] | None = None,
    hide_defaults: Iterable[str] = (),
    build: Build | None = None,
    target: typer.Typer = app,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register `handler(config, **params)` as `squeezenet NAME` (on `target`).

    The options are `cls`'s fields (but `exclude`), then `params`, then --config and
    --print-config. `build(given, **params)` turns the settings given (--config FILE, then the
    flags given) into the config; by default `cls(**given)`. Without `cls` the handler gets
    only `**params`. A `threads` parameter, when given, sets PyTorch's thread count first.
    """
    extra = list(params)
    fields = (
        []
        if cls is None
        else config_params(cls, exclude=exclude, help=help, hide_defaults=hide_defaults)
    )
    own = [] if cls is None else [CONFIG, PRINT_CONFIG]
    every = [p for p in extra if p.argument] + fields + [p for p in extra if not p.argument] + own
    field_names = {p.name for p in fields}

    def register(handler: Callable[..., None]) -> Callable[..., None]:
        def command(ctx: typer.Context, **kwargs: Any) -> None:
            if kwargs.get("threads") is not None:
                torch.set_num_threads(kwargs["threads"])
            rest = {
                k: v
                for k, v in kwargs.items()
                if k not in field_names and k not in ("config_file", "print_config")
            }
            if cls is None:
                return handler(**rest)
            path = kwargs["config_file"]
            given = {} if path is None else read_config_file(path, cls)
            given.update({k: v for k, v in kwargs.items() if k in field_names and _given(ctx, k)})
            config = build(given, **rest) if build else make_config(cls, given)
            if kwargs["print_config"]:
                print(json.dumps(to_jsonable(config), indent=2))
                return None
            return handler(config, **rest)

        context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
        signature = [context] + [p.typer_parameter() for p in every]
        command.__signature__ = inspect.Signature(signature)
        command.__annotations__ = {p.name: p.annotation for p in signature}
        command.__doc__ = handler.__doc__
        command.__name__ = handler.__name__
        target.command(name)(command)
        return handler

    return register
