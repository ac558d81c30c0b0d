"""extract_variables: declared knobs, undeclared knobs, candidates and the user's overrides."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.runnables import (
    ConfigurableField,
    ConfigurableFieldMultiOption,
    ConfigurableFieldSingleOption,
    Runnable,
    RunnableBranch,
    RunnableLambda,
)
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_openai import ChatOpenAI
from pydantic import Field

from stacktune import Categorical, Float, Int, InvalidConfiguration, InvalidVariable, Space
from stacktune_langchain import LangChainAdapter
from stacktune_langchain.testing import QuizChatModel

from .conftest import CAREFUL, DUMMY_URL, SYSTEM, quiz_prompt


def kinds(space: Space) -> dict[str, str]:
    return {v.name: v.kind for v in space}


def test_mixed_chain_finds_declared_and_undeclared_knobs(mixed_chain: Runnable[Any, Any]) -> None:
    space = LangChainAdapter(mixed_chain).extract_variables()
    assert kinds(space) == {
        # declared: alternatives, prefixed configurable fields of each alternative
        "llm": "categorical",
        "style": "categorical",
        "llm==quiz/temperature": "float",
        "llm==quiz/top_p": "float",
        # undeclared: what the declared wrappers leave open, and the plain ChatOpenAI
        "draft.step1.llm==quiz.model.max_tokens": "int",
        "draft.step1.llm==cold.model.temperature": "float",
        "draft.step1.llm==cold.model.top_p": "float",
        "draft.step1.llm==cold.model.max_tokens": "int",
        "draft.step0.style==plain.prompt.system": "categorical",
        "draft.step0.style==plain.prompt.human": "categorical",
        "draft.step0.style==careful.prompt.system": "categorical",
        "draft.step0.style==careful.prompt.human": "categorical",
        "review.step1.model.temperature": "float",
        "review.step1.model.top_p": "float",
        "review.step1.model.max_tokens": "int",
        "review.step0.prompt.system": "categorical",
        "review.step0.prompt.human": "categorical",
    }
    llm, style = space["llm"], space["style"]
    assert isinstance(llm, Categorical) and set(llm.keys) == {"quiz", "cold"} and llm.default == "quiz"
    assert isinstance(style, Categorical) and set(style.keys) == {"plain", "careful"} and style.default == "plain"


def test_declared_bounds_come_from_annotation_and_known_ranges(mixed_chain: Runnable[Any, Any]) -> None:
    space = LangChainAdapter(mixed_chain).extract_variables()
    temperature, top_p = space["llm==quiz/temperature"], space["llm==quiz/top_p"]
    assert isinstance(temperature, Float) and (temperature.low, temperature.high) == (0.0, 1.5)  # the catalogue's
    assert temperature.default == 0.7 and temperature.description == "sampling temperature"
    # Annotated[float, Interval(ge=0.1, le=0.9)], widened to hold the model's current 1.0
    assert isinstance(top_p, Float) and (top_p.low, top_p.high) == (0.1, 1.0) and top_p.default == 1.0


def test_prefixed_and_nested_knobs_are_conditional_on_their_alternative(mixed_chain: Runnable[Any, Any]) -> None:
    space = LangChainAdapter(mixed_chain).extract_variables()
    assert space["llm==quiz/temperature"].when == {"llm": ("quiz",)}
    assert space["draft.step1.llm==cold.model.temperature"].when == {"llm": ("cold",)}
    assert space["draft.step0.style==careful.prompt.system"].when == {"style": ("careful",)}
    assert space["review.step1.model.temperature"].when is None
    names = space.names
    assert names.index("llm") < names.index("llm==quiz/temperature")


def test_undeclared_chat_openai_sampling_parameters(openai_model: ChatOpenAI) -> None:
    space = LangChainAdapter(quiz_prompt() | openai_model).extract_variables()
    temperature, top_p, max_tokens = (space[f"step1.model.{p}"] for p in ("temperature", "top_p", "max_tokens"))
    assert isinstance(temperature, Float) and (temperature.low, temperature.high, temperature.default) == (0, 1.5, 0.3)
    # unset (None) on the model: the catalogue's stand-in defaults, which change nothing
    assert isinstance(top_p, Float) and (top_p.low, top_p.high, top_p.default) == (0.1, 1, 1.0)
    assert isinstance(max_tokens, Int) and (max_tokens.low, max_tokens.high) == (16, 4096)
    assert max_tokens.log and max_tokens.default == 4096


def test_two_models_never_collide(openai_model: ChatOpenAI) -> None:
    chain = (
        quiz_prompt()
        | openai_model
        | StrOutputParser()
        | (lambda text: {"question": text})
        | quiz_prompt()
        | QuizChatModel()
    )
    space = LangChainAdapter(chain).extract_variables()
    assert space["step1.model.temperature"].default == 0.3
    assert space["step5.model.temperature"].default == 0.7
    assert "step4.prompt.system" in space and "step0.prompt.system" in space


def test_max_tokens_bound_from_model_profile() -> None:
    model = QuizChatModel(profile={"max_output_tokens": 256}, max_tokens=64)
    space = LangChainAdapter(model).extract_variables()
    assert (space["model.max_tokens"].low, space["model.max_tokens"].high) == (16, 256)
    assert space["model.max_tokens"].default == 64


def test_guessed_bounds_widen_to_hold_the_current_value() -> None:
    space = LangChainAdapter(QuizChatModel(max_tokens=5000)).extract_variables()
    assert space["model.max_tokens"].high == 5000 and space["model.max_tokens"].default == 5000


def test_field_ge_le_bounds_on_a_model_subclass() -> None:
    class Bounded(QuizChatModel):
        temperature: float = Field(default=0.4, ge=0.2, le=1.2)

    space = LangChainAdapter(Bounded()).extract_variables()
    assert (space["model.temperature"].low, space["model.temperature"].high) == (0.2, 1.2)


def test_declared_field_bounds_from_pydantic_field() -> None:
    class Bounded(QuizChatModel):
        top_p: float = Field(default=0.5, ge=0.05, le=0.95)

    chain = Bounded().configurable_fields(top_p=ConfigurableField(id="nucleus"))
    space = LangChainAdapter(chain).extract_variables()
    # the catalogue's 0.1..1.0, narrowed to what the field accepts (0.05..0.95)
    assert (space["nucleus"].low, space["nucleus"].high, space["nucleus"].default) == (0.1, 0.95, 0.5)
    assert "model.top_p" not in space  # declared: not exposed a second time


def test_single_and_multi_option_fields() -> None:
    prompt = PromptTemplate.from_template("{question}").configurable_fields(
        template=ConfigurableFieldSingleOption(
            id="template", options={"plain": "{question}", "careful": "Be careful. {question}"}, default="plain"
        ),
    )
    model = QuizChatModel().configurable_fields(
        tags=ConfigurableFieldMultiOption(id="tags", options={"a": "a", "b": "b"}, default=["a"]),
    )
    space = LangChainAdapter(prompt | model).extract_variables()
    template = space["template"]
    assert isinstance(template, Categorical) and template.keys == ("plain", "careful") and template.default == "plain"
    assert space["tags[a]"].default is True and space["tags[b]"].default is False
    assert "step0.prompt" not in space  # its template is declared


@pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")
def test_runtime_keys_are_left_out() -> None:
    prompt = ChatPromptTemplate([("system", SYSTEM), MessagesPlaceholder("history"), ("human", "{question}")])
    histories: dict[str, InMemoryChatMessageHistory] = {}
    chain = RunnableWithMessageHistory(
        prompt | QuizChatModel().configurable_fields(temperature=ConfigurableField(id="temperature")),
        lambda session_id: histories.setdefault(session_id, InMemoryChatMessageHistory()),
        input_messages_key="question",
        history_messages_key="history",
    )
    assert "session_id" in {spec.id for spec in chain.config_specs}
    adapter = LangChainAdapter(chain)
    assert "session_id" not in adapter.extract_variables()
    assert adapter.skipped["session_id"].startswith("runtime key")
    # the history wrapper calls the chain from a closure: its declared knobs still show
    assert adapter.extract_variables().names == ("temperature",)


def test_branches_fallbacks_and_bindings_are_walked(openai_model: ChatOpenAI) -> None:
    quick = QuizChatModel(model_name="quick", temperature=0.2).bind(temperature=0.9)
    slow = QuizChatModel(model_name="slow").with_fallbacks([openai_model])
    branch = RunnableBranch(
        (RunnableLambda(lambda x: "?" in x["question"]), quiz_prompt() | quick), quiz_prompt() | slow
    )
    space = LangChainAdapter(branch).extract_variables()
    # a binding's kwargs override the model's field: the bound value is the current one
    assert space["branch0.step1.model.temperature"].default == 0.9
    assert space["default.step1.primary.model.temperature"].default == 0.7
    assert space["default.step1.fallback0.model.temperature"].default == 0.3
    assert not any(name.startswith("branch0.if") for name in space.names)


def test_prompt_candidates_join_as_categorical(simple_chain: Runnable[Any, Any]) -> None:
    adapter = LangChainAdapter(simple_chain, prompts={"step0.prompt.system": [CAREFUL]})
    system = adapter.extract_variables()["step0.prompt.system"]
    assert isinstance(system, Categorical)
    assert list(system.choices.values()) == [SYSTEM, CAREFUL] and system.resolve(system.default) == SYSTEM


def test_prompt_candidates_shorthand_needs_a_single_site(simple_chain: Runnable[Any, Any]) -> None:
    with pytest.raises(InvalidConfiguration, match=r"step0\.prompt\.human.*step0\.prompt\.system"):
        LangChainAdapter(simple_chain, prompts=[CAREFUL])
    single = PromptTemplate.from_template("Q: {question}") | QuizChatModel()
    space = LangChainAdapter(single, prompts={"long": "Be careful.\nQ: {question}"}).extract_variables()
    assert set(space["step0.prompt"].keys) == {"current", "long"}


def test_prompt_candidate_with_unknown_input_is_rejected(simple_chain: Runnable[Any, Any]) -> None:
    with pytest.raises(InvalidConfiguration, match=r"candidate #0 uses \['context'\]"):
        LangChainAdapter(simple_chain, prompts={"step0.prompt.human": ["{context}: {question}"]})


def test_unknown_candidate_site_is_rejected(simple_chain: Runnable[Any, Any]) -> None:
    with pytest.raises(InvalidConfiguration, match=r"'step0\.prompt\.sytem'.*step0\.prompt\.system"):
        LangChainAdapter(simple_chain, prompts={"step0.prompt.sytem": [CAREFUL]})


def test_model_candidates_join_as_categorical(simple_chain: Runnable[Any, Any]) -> None:
    big = QuizChatModel(model_name="big")
    adapter = LangChainAdapter(simple_chain, models={"big": big})
    choice = adapter.extract_variables()["step1.model"]
    assert isinstance(choice, Categorical) and choice.keys == ("current", "big")
    assert choice.default == "current" and choice.resolve("big") is big
    named = LangChainAdapter(simple_chain, models=[big]).extract_variables()["step1.model"]
    assert isinstance(named, Categorical) and named.keys == ("quiz", "big")


def test_user_bounds_variables_and_exclude(simple_chain: Runnable[Any, Any]) -> None:
    adapter = LangChainAdapter(
        simple_chain,
        bounds={"step1.model.temperature": (0.0, 1.0)},
        variables=[Categorical("step1.model.top_p", [0.5, 1.0])],
        exclude=["step1.model.max_tokens", "*.human"],
    )
    space = adapter.extract_variables()
    assert (space["step1.model.temperature"].high, space["step1.model.temperature"].default) == (1.0, 0.7)
    narrow = LangChainAdapter(simple_chain, bounds={"step1.model.temperature": (0.0, 0.5)}).extract_variables()
    assert narrow["step1.model.temperature"].default == 0.5  # the user's bounds hold: the nearest one
    assert space["step1.model.top_p"].kind == "categorical" and space["step1.model.top_p"].default == 1.0
    assert set(space.names) == {"step1.model.temperature", "step1.model.top_p", "step0.prompt.system"}


@pytest.mark.parametrize("option", ["bounds", "variables", "exclude"])
def test_overrides_naming_no_knob_are_rejected(simple_chain: Runnable[Any, Any], option: str) -> None:
    given: dict[str, Any] = {
        "bounds": {"step1.model.temprature": (0, 1)},
        "variables": [Float("step1.model.temprature", 0, 1)],
        "exclude": ["step1.model.temprature"],
    }
    with pytest.raises(InvalidConfiguration, match="temprature"):
        LangChainAdapter(simple_chain, **{option: given[option]})


def test_declared_string_field_needs_candidates() -> None:
    model = ChatOpenAI(base_url=DUMMY_URL, api_key="dummy", model="a")  # type: ignore[arg-type]
    chain = model.configurable_fields(model_name=ConfigurableField(id="model_name"))
    adapter = LangChainAdapter(chain)
    assert "model_name" not in adapter.extract_variables() and "model_name" in adapter.skipped
    chosen = LangChainAdapter(chain, candidates={"model_name": ["a", "b"]}).extract_variables()["model_name"]
    assert isinstance(chosen, Categorical) and chosen.keys == ("a", "b") and chosen.default == "a"
    with pytest.raises(InvalidConfiguration, match="model_nam"):
        LangChainAdapter(chain, candidates={"model_nam": ["a"]})


def test_undeclared_off_keeps_only_declared(mixed_chain: Runnable[Any, Any]) -> None:
    space = LangChainAdapter(mixed_chain, undeclared=False).extract_variables()
    assert set(space.names) == {"llm", "style", "llm==quiz/temperature", "llm==quiz/top_p"}


def test_collision_between_declared_id_and_undeclared_name() -> None:
    chain = quiz_prompt() | QuizChatModel().configurable_fields(top_p=ConfigurableField(id="step1.model.temperature"))
    with pytest.raises(InvalidVariable, match="collides"):
        LangChainAdapter(chain)


def test_space_survives_json(mixed_chain: Runnable[Any, Any]) -> None:
    space = LangChainAdapter(mixed_chain, models={"review.step1.model": [QuizChatModel()]}).extract_variables()
    again = Space.from_json(space.to_json())
    assert again.names == space.names and again.defaults() == space.defaults()


def test_rejects_non_runnables() -> None:
    with pytest.raises(TypeError, match="Runnable"):
        LangChainAdapter("not a chain")  # type: ignore[arg-type]


def test_seed_is_tuned_only_over_bounds_you_give(openai_model: ChatOpenAI) -> None:
    params = ("temperature", "seed")
    asked = LangChainAdapter(quiz_prompt() | openai_model, sampling_params=params)
    assert "step1.model.seed" not in asked.extract_variables()
    assert "searched only over bounds you give" in asked.skipped["step1.model.seed"]
    bounded = LangChainAdapter(
        quiz_prompt() | openai_model, sampling_params=params, bounds={"step1.model.seed": (0, 3)}
    )
    seed = bounded.extract_variables()["step1.model.seed"]
    assert isinstance(seed, Int) and (seed.low, seed.high, seed.default) == (0, 3, 0)
