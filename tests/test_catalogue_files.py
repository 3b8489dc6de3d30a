"""Checks on the model catalogues in fixtures/catalogue/ (demo and production)."""

import datetime
import random
import re
from pathlib import Path

import pytest
import yaml

from arena.pairing import MODES, Candidate, choose_pair

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "catalogue"
DEMO = CATALOGUE_DIR / "demo.yaml"
PRODUCTION = CATALOGUE_DIR / "production.yaml"

# The thresholds each file proposes in its header comment (checked below to stay in sync).
THRESHOLDS = {
    DEMO: {"small_max_params_b": 0.0005, "big_min_params_b": 0.0015},
    PRODUCTION: {"small_max_params_b": 15, "big_min_params_b": 60},
}
THRESHOLD_ENV = {"small_max_params_b": "ARENA_SMALL_MAX_PARAMS_B", "big_min_params_b": "ARENA_BIG_MIN_PARAMS_B"}

LICENSE_KINDS = {"open", "semi_open", "proprietary"}
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
NUMBER = (int, float)
REQUIRED_FIELDS = {
    "slug": str,
    "name": str,
    "organization": str,
    "license": str,
    "license_kind": str,
    "params_b": NUMBER,
    "active_params_b": NUMBER,
    "architecture": str,
    "release_date": (str, datetime.date),
    "description": dict,
    "identity_words": list,
    "enabled": bool,
}

# Layout of the tiny models (inference_workers/tiny_model.py), from which demo.yaml's
# params_b are computed: see the header of demo.yaml.
TINY_VOCAB_SIZE = 1024
TINY_HEAD_DIM = 64
TINY_FFN_RATIO = 2


def _models(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _workers(path):
    """The metered entries (a `worker` block), not the remote APIs."""
    return [m for m in _models(path) if "api" not in m]


both_files = pytest.mark.parametrize("path", [DEMO, PRODUCTION], ids=["demo", "production"])


@both_files
def test_it_loads_a_non_empty_list_of_models(path):
    models = _models(path)
    assert isinstance(models, list) and models
    assert all(isinstance(m, dict) for m in models)


@both_files
def test_it_documents_the_schema_at_the_top(path):
    head = path.read_text(encoding="utf-8").split("\n- slug:", 1)[0]
    for field in (*REQUIRED_FIELDS, "worker"):
        assert f"#   {field}" in head, field


@both_files
def test_it_has_every_required_field_with_the_right_type(path):
    for model in _models(path):
        for field, kind in REQUIRED_FIELDS.items():
            assert field in model, f"{model.get('slug')}: missing {field}"
            value = model[field]
            # bool is a subclass of int: `enabled` must be a bool, numbers must not be.
            right_type = (
                isinstance(value, bool) if kind is bool else (isinstance(value, kind) and not isinstance(value, bool))
            )
            assert right_type, f"{model['slug']}.{field} = {value!r}"
            if isinstance(value, (str, list, dict)):
                assert value, f"{model['slug']}.{field} is empty"


@both_files
def test_it_uses_unique_slug_like_slugs(path):
    slugs = [m["slug"] for m in _models(path)]
    assert len(slugs) == len(set(slugs))
    for slug in slugs:
        assert SLUG_RE.match(slug), slug


@both_files
def test_it_uses_a_known_license_kind(path):
    for model in _models(path):
        assert model["license_kind"] in LICENSE_KINDS, model["slug"]


@both_files
def test_it_has_active_parameters_at_most_the_total(path):
    for model in _models(path):
        assert 0 < model["active_params_b"] <= model["params_b"], model["slug"]
        if "MoE" not in model["architecture"]:
            assert model["active_params_b"] == model["params_b"], model["slug"]


@both_files
def test_it_has_parseable_release_dates(path):
    for model in _models(path):
        value = model["release_date"]
        if isinstance(value, str):
            datetime.date.fromisoformat(value)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)), model["slug"]


@both_files
def test_it_describes_every_model_in_french_and_english(path):
    for model in _models(path):
        for language in ("fr", "en"):
            text = model["description"].get(language)
            assert isinstance(text, str) and text.strip(), f"{model['slug']}: no {language} description"


@both_files
def test_it_gives_each_model_either_a_worker_or_a_remote_api(path):
    for model in _models(path):
        assert ("worker" in model) != ("api" in model), model["slug"]
        api = model.get("api")
        if api:
            assert {"base_url", "model", "key_env", "provider"} <= set(api), model["slug"]
            assert "key" not in api, f"{model['slug']}: a key in the catalogue"
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", api["key_env"]), model["slug"]
            assert re.fullmatch(r"https?://[^\s/]+(:\d+)?(/.*)?", api["base_url"]), model["slug"]


def test_the_demo_has_one_keyless_remote_api_through_a_local_worker():
    remote = [m for m in _models(DEMO) if "api" in m]
    assert len(remote) == 1 and remote[0]["api"]["key_optional"] is True
    served = {m["slug"]: m["worker"]["default"] for m in _workers(DEMO)}
    assert served[remote[0]["api"]["model"]] == remote[0]["api"]["base_url"]


@both_files
def test_it_names_worker_env_variables_after_the_slug(path):
    models = _workers(path)
    envs = [m["worker"]["env"] for m in models]
    assert len(envs) == len(set(envs))
    for model in models:
        expected = "WORKER_URL_" + model["slug"].upper().replace("-", "_")
        assert model["worker"]["env"] == expected
        assert re.fullmatch(r"https?://[^\s/]+(:\d+)?/?", model["worker"]["default"]), model["slug"]


@both_files
def test_it_uses_distinct_default_worker_urls(path):
    defaults = [m["worker"]["default"] for m in _workers(path)]
    assert len(defaults) == len(set(defaults))


@both_files
def test_it_lists_identity_words_as_strings(path):
    for model in _models(path):
        words = model["identity_words"]
        assert all(isinstance(w, str) and w.strip() for w in words), model["slug"]


def test_it_gives_every_demo_model_a_recipe():
    for model in _workers(DEMO):
        recipe = model["recipe"]
        assert set(recipe) == {"seed", "layers", "hidden_size"}, model["slug"]
        assert all(isinstance(v, int) and not isinstance(v, bool) for v in recipe.values())
        assert recipe["layers"] >= 1
        assert recipe["hidden_size"] > 0 and recipe["hidden_size"] % 64 == 0, model["slug"]
    seeds = [m["recipe"]["seed"] for m in _workers(DEMO)]
    assert len(seeds) == len(set(seeds))


def test_it_gives_demo_models_the_parameter_count_of_their_recipe():
    for model in _workers(DEMO):
        hidden, layers = model["recipe"]["hidden_size"], model["recipe"]["layers"]
        heads = hidden // TINY_HEAD_DIM
        kv_heads = heads // 2 if heads % 2 == 0 else heads
        attention = 2 * hidden * hidden + 2 * hidden * kv_heads * TINY_HEAD_DIM
        per_layer = attention + 3 * hidden * TINY_FFN_RATIO * hidden + 2 * hidden
        params = TINY_VOCAB_SIZE * hidden + layers * per_layer + hidden
        assert model["params_b"] == pytest.approx(params / 1e9, rel=0.03), model["slug"]


def test_it_names_a_hugging_face_repository_for_production_models():
    for model in _models(PRODUCTION):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", model["hf_id"]), model["slug"]
        assert "recipe" not in model
    hf_ids = [m["hf_id"] for m in _models(PRODUCTION)]
    assert len(hf_ids) == len(set(hf_ids))


def test_it_lists_real_open_weight_models_in_production():
    models = _models(PRODUCTION)
    assert 6 <= len(models) <= 10
    assert all(m["license_kind"] != "proprietary" for m in models)


@both_files
def test_it_states_the_thresholds_it_proposes(path):
    text = path.read_text(encoding="utf-8")
    for name, value in THRESHOLDS[path].items():
        assert f"{THRESHOLD_ENV[name]}={value}" in text


@both_files
def test_it_has_at_least_two_small_and_two_big_models(path):
    thresholds = THRESHOLDS[path]
    enabled = [m for m in _models(path) if m["enabled"]]
    assert sum(m["params_b"] <= thresholds["small_max_params_b"] for m in enabled) >= 2
    assert sum(m["params_b"] >= thresholds["big_min_params_b"] for m in enabled) >= 2


@both_files
@pytest.mark.parametrize("mode", MODES)
def test_it_has_a_pair_for_every_mode(path, mode):
    models = _models(path)
    candidates = [Candidate(m["slug"], m["params_b"], m["enabled"]) for m in models]
    enabled = [m["slug"] for m in models if m["enabled"]]
    choices = [()] if mode != "custom" else [(enabled[0],), (enabled[0], enabled[-1])]
    for chosen in choices:
        a, b = choose_pair(candidates, mode, pair_votes={}, rng=random.Random(0), chosen=chosen, **THRESHOLDS[path])
        assert a != b
