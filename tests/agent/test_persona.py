"""The kiosk system prompt: persona + operator knowledge, comments stripped, files validated;
and (e2e) the default embedded model really answers from the knowledge file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent import (
    EmbeddedLLMServer,
    LLMSettings,
    PersonaSettings,
    build_messages,
    build_system_prompt,
    complete_reply,
    make_client,
)
from agent.persona import KNOWLEDGE_HEADER, PersonaLines, persona_lines, read_prompt_file


def test_bundled_prompt_has_persona_then_knowledge_without_operator_comments() -> None:
    prompt = build_system_prompt(PersonaSettings())
    persona_at = prompt.index("help kiosk")
    knowledge_at = prompt.index(KNOWLEDGE_HEADER)
    assert persona_at < knowledge_at
    assert "Opening hours" in prompt[knowledge_at:]
    assert "<!--" not in prompt and "Operators:" not in prompt
    assert "don't know" in prompt  # the instruction not to invent answers


def test_operator_files_replace_the_bundled_ones(tmp_path: Path) -> None:
    persona = tmp_path / "persona.md"
    persona.write_text("You are Ada, the museum's guide.\n<!-- draft v2 -->\n")
    knowledge = tmp_path / "facts.md"
    knowledge.write_text("The museum opens at 10 a.m.\n\n\n\nEntry is free on Fridays.\n")
    prompt = build_system_prompt(PersonaSettings(persona_file=persona, knowledge_file=knowledge))
    assert prompt == (
        "You are Ada, the museum's guide.\n\n"
        f"{KNOWLEDGE_HEADER}\nThe museum opens at 10 a.m.\n\nEntry is free on Fridays."
    )


def test_empty_or_missing_prompt_files_are_errors(tmp_path: Path) -> None:
    only_comment = tmp_path / "empty.md"
    only_comment.write_text("<!-- nothing yet -->\n")
    with pytest.raises(ValueError, match="prompt file is empty"):
        read_prompt_file(only_comment)
    with pytest.raises(FileNotFoundError, match="prompt file not found"):
        read_prompt_file(tmp_path / "gone.md")


@pytest.mark.e2e
async def test_default_embedded_model_answers_from_the_knowledge_file(tmp_path: Path) -> None:
    """The operator's facts reach the model: change a fact and the answer follows it."""
    knowledge = tmp_path / "facts.md"
    knowledge.write_text(
        "Store name: Tiny Tools.\nCustomer service phone: 555-0199.\n"
        "Opening hours: every day from 7 a.m. to 11 p.m.\n"
    )
    llm, persona = LLMSettings(temperature=0.0), PersonaSettings(knowledge_file=knowledge)
    async with EmbeddedLLMServer.from_settings(llm) as server:
        client = make_client(server.base_url, llm.api_key)
        answer = await complete_reply(
            client,
            model=server.model_alias,
            messages=build_messages(
                build_system_prompt(persona), "What is the customer service phone number?"
            ),
            max_tokens=llm.max_tokens,
            temperature=0.0,
        )
        await client.close()
    assert "5550199" in re.sub(r"\D", "", answer), answer
    assert "*" not in answer and "#" not in answer, f"markdown in a spoken answer: {answer}"


def test_the_persona_file_holds_the_greeting_and_goodbye_which_the_llm_never_reads(
        tmp_path: Path) -> None:
    persona = tmp_path / "persona.md"
    persona.write_text("---\n# said unasked\ngreeting: Good morning, I'm Ada.\n"
                       "goodbye: \"Enjoy the museum!\"\n---\nYou are Ada, the museum's guide.\n")
    assert persona_lines(persona) == PersonaLines(greeting="Good morning, I'm Ada.",
                                                  goodbye="Enjoy the museum!")
    assert read_prompt_file(persona) == "You are Ada, the museum's guide."
    bundled = PersonaSettings().persona_file
    assert persona_lines(bundled).greeting  # the bundled persona greets
    assert "greeting" not in build_system_prompt(PersonaSettings()).lower()


def test_a_persona_without_front_matter_has_no_lines(tmp_path: Path) -> None:
    persona = tmp_path / "persona.md"
    persona.write_text("You are Ada.\n---\ngreeting: not front matter, a rule in the text\n---\n")
    assert persona_lines(persona) == PersonaLines()
    assert "not front matter" in read_prompt_file(persona)


@pytest.mark.parametrize(("block", "error"), [
    ("greeting:\n", r"persona's greeting is empty"),
    ("greeting: '  '\n", r"persona's greeting is empty"),
    (f"greeting: {'Hello there. ' * 50}\n", r"persona's greeting is \d+ characters, over the 500"),
    (f"goodbye: {'Bye now. ' * 30}\n", r"persona's goodbye is \d+ characters, over the 200"),
    ("greting: Hello\n", r"unknown front matter key 'greting'"),
    ("greeting: Hi\ngreeting: Hello\n", r"greeting is given twice"),
    ("just words\n", r"not 'key: value'"),
])
def test_a_bad_greeting_or_goodbye_is_refused_by_name(tmp_path: Path, block: str,
                                                      error: str) -> None:
    persona = tmp_path / "persona.md"
    persona.write_text(f"---\n{block}---\nYou are Ada.\n")
    with pytest.raises(ValueError, match=error) as raised:
        persona_lines(persona)
    assert str(persona) in str(raised.value)


def test_the_dont_know_and_off_topic_lines_are_the_operators(tmp_path: Path) -> None:
    """Where the file has no answer the kiosk says the persona's own lines; without them a
    neutral line that names no business's topics."""
    from agent.answers.lines import DONT_KNOW_LINE, AnswerLines

    persona = tmp_path / "persona.md"
    persona.write_text("---\ndont_know: Sorry, please ask at the ticket desk.\n---\n"
                       "You are Ada, the museum's guide.\n", encoding="utf-8")
    assert AnswerLines.from_persona(persona) == AnswerLines(
        dont_know="Sorry, please ask at the ticket desk.",
        off_topic="Sorry, please ask at the ticket desk.")
    persona.write_text("---\noff_topic: I only know about the museum.\n---\nYou are Ada.\n",
                       encoding="utf-8")
    assert AnswerLines.from_persona(persona) == AnswerLines(
        dont_know=DONT_KNOW_LINE, off_topic="I only know about the museum.")
    bundled = AnswerLines.from_persona(PersonaSettings().persona_file)
    assert bundled.off_topic == DONT_KNOW_LINE and "store" not in bundled.off_topic.lower()
