"""The one configuration tree of avatar-forcing: `Settings`, loaded from four layers.

Highest first:

1. explicit overrides (CLI flags) passed to `Settings.load(...)`, one mapping per
   section: `Settings.load(path, server={"port": 8766}, llm={"model": None})`
   (None values are dropped: a flag left unset must not mask what is beneath it),
2. environment variables `AVATAR_FORCING_<SECTION>_<FIELD>`, e.g.
   `AVATAR_FORCING_LLM_BASE_URL` (llm.base_url), `AVATAR_FORCING_SERVER_PORT`,
   `AVATAR_FORCING_TURNS_SEMANTIC_TURN`,
3. a TOML or YAML config file given to `Settings.load(config_file)`, holding the
   sections as tables (`[server]`, `[llm]`, `[turns]`, ...),
4. the defaults of the sections (`pipelines.settings.sections`).

Relative paths inside a config file are resolved against the file's folder, so a
config and its persona travel together. The frozen runtime dataclasses the code
uses are built from their sections (`TurnParams.from_section(settings.turns)`,
`FacePacing.from_section`, `ASRParams.from_section`, `LimitsSettings.params()`);
the sections' defaults are the dataclasses' own (tests/pipelines/test_settings.py
holds them equal field by field). Every field is listed in docs/CONFIG.md, which
`python -m pipelines.settings --reference > docs/CONFIG.md` writes.

The package: this module is the root, its loading and `section_params`; `sections`
holds the section models, `reference` writes docs/CONFIG.md (`__main__` runs it).
This module sits at the composition root (pipelines/): `agent` owns its sections
(`agent.settings.LLMSettings`, `PersonaSettings`) and never sees the whole tree.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent.settings import LLMSettings, PersonaSettings
from pipelines.settings.sections import (
    ASRSettings,
    AvatarSettings,
    KioskSettings,
    LimitsSettings,
    ServerSettings,
    TTSSettings,
    TurnSettings,
)

ENV_PREFIX = "AVATAR_FORCING_"

# The parsed config file for the `load()` call in progress. A ContextVar (not a
# class attribute) so concurrent loads in threads or tasks never see each other's file.
_CONFIG_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar(
    "avatar_forcing_config_file", default=None
)


_Params = TypeVar("_Params")


def section_params(cls: type[_Params], section: BaseModel) -> _Params:
    """The runtime dataclass `cls` (`TurnParams`, ...) from the section's fields of the
    same names; every field of `cls` must be a field of the section."""
    assert dataclasses.is_dataclass(cls)
    return cls(**{field.name: getattr(section, field.name) for field in dataclasses.fields(cls)})


# ----------------------------------------------------------------------------- the file


class SettingsError(ValueError):
    """The environment or a config file names a setting that does not exist (a typo,
    or a name from before the sections)."""


#: Fields holding paths, per section: relative ones in a config file are the file's.
_PATH_FIELDS: dict[str, tuple[str, ...]] = {
    "server": ("tls_cert_file", "tls_key_file"),
    "asr": ("model_path",),
    "tts": ("voice_path",),
    "persona": ("persona_file", "knowledge_file"),
    "avatar": ("portrait_dir",),
}


def read_config_file(path: Path, other_tables: Collection[str] = ()) -> dict[str, Any]:
    """Parse a `.toml`, `.yaml` or `.yml` config file into its sections, with relative
    paths resolved against the file's folder. `other_tables` are top-level tables
    another reader of the same file owns (the fleet's `[fleet]`): they are left out."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        with path.open("rb") as handle:
            data: Any = tomllib.load(handle)
    elif suffix in (".yaml", ".yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    else:
        raise ValueError(f"config file {path} must end in .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a table of settings at its top level")
    data = {key: value for key, value in data.items() if key not in other_tables}
    check_file_keys(path, data)
    resolved = dict(data)
    for section, keys in _PATH_FIELDS.items():
        table = resolved.get(section)
        if not isinstance(table, dict):
            continue
        table = dict(table)
        for key in keys:
            value = table.get(key)
            if isinstance(value, str) and value:
                candidate = Path(value).expanduser()
                table[key] = candidate if candidate.is_absolute() else path.parent / candidate
        resolved[section] = table
    return resolved


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Feeds the config file of the current `load()` call as the lowest non-default layer."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        data = _CONFIG_FILE_DATA.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_CONFIG_FILE_DATA.get() or {})


# ----------------------------------------------------------------------------- the tree


class Settings(BaseSettings):
    """Everything a user may tune, in sections; see the module docstring for the layers."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    server: ServerSettings = Field(default_factory=ServerSettings,
                                   description="Where the server listens and whom it admits.")
    llm: LLMSettings = Field(default_factory=LLMSettings,
                             description="The LLM endpoint and how the agent asks it.")
    persona: PersonaSettings = Field(default_factory=PersonaSettings,
                                     description="Who the agent is and what it knows.")
    asr: ASRSettings = Field(default_factory=ASRSettings, description="Speech recognition.")
    tts: TTSSettings = Field(default_factory=TTSSettings, description="Speech synthesis.")
    turns: TurnSettings = Field(default_factory=TurnSettings, description="Turn-taking.")
    avatar: AvatarSettings = Field(default_factory=AvatarSettings,
                                   description="The live avatar.")
    kiosk: KioskSettings = Field(default_factory=KioskSettings,
                                 description="The kiosk attendant: presence, greeting, walk-away.")
    limits: LimitsSettings = Field(default_factory=LimitsSettings,
                                   description="Per-session bounds.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the layers: overrides > env > config file (> field defaults)."""
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    @classmethod
    def load(
        cls, config_file: Path | None = None, *, other_tables: Collection[str] = (),
        **overrides: Mapping[str, Any] | None,
    ) -> Settings:
        """Build settings from defaults, an optional config file, env vars and overrides.

        `overrides` map a section to its fields, e.g. `server={"port": 8766}`. Values
        that are None are dropped: an argparse flag that was not given must not mask
        the env var or config file beneath it.

        Raises:
            SettingsError: an `AVATAR_FORCING_*` variable names no setting (a typo, or a
                name from before the sections, e.g. `AVATAR_FORCING_PORT`).
            pydantic.ValidationError: a value is invalid (the message names the field).
        """
        check_env_names(os.environ)
        data = (read_config_file(Path(config_file), other_tables)
                if config_file is not None else None)
        layer: dict[str, Any] = {}
        for section, values in overrides.items():
            if values is None:
                continue
            kept = {key: value for key, value in dict(values).items() if value is not None}
            if kept:
                layer[section] = kept
        token = _CONFIG_FILE_DATA.set(data)
        try:
            return cls(**layer)
        finally:
            _CONFIG_FILE_DATA.reset(token)



def section_models() -> dict[str, type[BaseModel]]:
    """Each section's name and model, in the tree's order."""
    sections: dict[str, type[BaseModel]] = {}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"Settings.{name} must be a section (a pydantic model)")
        sections[name] = model
    return sections


def env_name(section: str, field: str) -> str:
    """The environment variable that sets `section.field`."""
    return f"{ENV_PREFIX}{section}_{field}".upper()


def sections_holding(field: str) -> list[str]:
    """The sections that have a field of this name (how a flat, pre-sections name
    is told where it lives now)."""
    return [name for name, model in section_models().items() if field in model.model_fields]


def check_file_keys(path: Path, data: Mapping[str, Any]) -> None:
    """Refuse a config file's top-level key that is no section, naming the section a
    flat (pre-sections) key belongs in: `port = 8766` is now `[server] port = 8766`.

    Raises:
        SettingsError: a key that is no section (pydantic alone would only say "extra
            inputs are not permitted").
    """
    sections = section_models()
    problems = []
    for key in data:
        if key in sections:
            continue
        homes = sections_holding(str(key))
        problems.append(f"`{key}` belongs under [{'] or ['.join(homes)}]" if homes
                        else f"`{key}` is no section (sections: {', '.join(sections)})")
    if problems:
        raise SettingsError(f"config file {path}: settings live in sections since the settings "
                         f"tree (docs/CONFIG.md): " + "; ".join(problems))


def check_env_names(environ: Mapping[str, str]) -> None:
    """Refuse `AVATAR_FORCING_*` variables that look like settings but set none.

    Settings read only the variables they know, so a misspelt one, or one named as
    before the sections (`AVATAR_FORCING_PORT`, now `AVATAR_FORCING_SERVER_PORT`),
    would be ignored without a word. Variables that name no section and no field
    (`AVATAR_FORCING_CACHE_DIR`) belong to other parts and are left alone."""
    sections = section_models()
    problems = []
    for key in sorted(environ):
        if not key.upper().startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX):].lower()
        section, _, field = rest.partition("_")
        if section in sections and field in sections[section].model_fields:
            continue
        homes = sections_holding(rest)
        if homes:
            problems.append(f"{key} is now {' or '.join(env_name(h, rest) for h in homes)}")
        elif section in sections:
            problems.append(f"{key}: section {section!r} has no field {field!r}")
    if problems:
        raise SettingsError("unknown settings in the environment (docs/CONFIG.md lists them): "
                         + "; ".join(problems))

