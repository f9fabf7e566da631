"""The assistant's one tool: look up a bike repair by its ticket number.

Three pieces, kept apart so each is easy to swap:

* `check_repair_status(ticket_number)`: the plain function (a stand-in for a real
  shop database; replace `REPAIR_TICKETS` with your own lookup). Pure, so it is
  unit-tested without any LLM.
* `REPAIR_STATUS_SCHEMA`: what the LLM is told about the tool (pipecat's
  `FunctionSchema`, converted per provider by pipecat's adapters).
* `register_tools(llm, context)`: registers the handler with pipecat's
  function-calling API and advertises the schema in the session's `LLMContext`.

Speech recognition writes a ticket number in many ways ("1042", "10 42",
"one zero four two", "ten forty-two"), so the lookup normalises what the LLM passes
instead of trusting it to have done so.
"""

from __future__ import annotations

import re
from typing import Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.llm_service import FunctionCallParams, LLMService

TOOL_NAME = "check_repair_status"
TICKET_DIGITS = 4

#: The demo shop's open repair tickets. A real shop would query its own system here.
REPAIR_TICKETS: dict[str, dict[str, str]] = {
    "1042": {
        "bike": "blue city bike",
        "job": "basic tune-up",
        "status": "ready for pickup",
        "price": "65 dollars",
    },
    "2177": {
        "bike": "red road bike",
        "job": "new rear derailleur",
        "status": "waiting for a part, expected on Friday",
        "price": "95 dollars",
    },
    "3310": {
        "bike": "green mountain bike",
        "job": "full overhaul",
        "status": "in the workshop, ready on Thursday",
        "price": "180 dollars",
    },
}

REPAIR_STATUS_SCHEMA = FunctionSchema(
    name=TOOL_NAME,
    description=(
        "Look up the current status of a customer's bike repair by its four-digit "
        "repair ticket number. Use it whenever the customer asks about their repair."
    ),
    properties={
        "ticket_number": {
            "type": "string",
            "description": "The four-digit repair ticket number, for example 1042.",
        }
    },
    required=["ticket_number"],
)

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip


def normalize_ticket_number(raw: object) -> str:
    """The digits of a spoken or written ticket number ("ten forty-two" -> "1042").

    Digits are kept as written; number words are read as people say ticket numbers:
    single digits ("one zero four two"), teens and tens ("ten forty-two" = 10|42).
    Anything else (letters, "#", "ticket") is ignored. Returns "" when nothing is left.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        return ""
    digits: list[str] = []
    words = re.findall(r"[a-z]+|\d+", raw.lower().replace("-", " "))
    index = 0
    while index < len(words):
        word = words[index]
        if word.isdigit():
            digits.append(word)
        elif word in _DIGIT_WORDS:
            digits.append(_DIGIT_WORDS[word])
        elif word in _TEENS:
            digits.append(str(_TEENS[word]))
        elif word in _TENS:
            value = _TENS[word]
            following = words[index + 1] if index + 1 < len(words) else ""
            if following in _DIGIT_WORDS and _DIGIT_WORDS[following] != "0":
                value += int(_DIGIT_WORDS[following])
                index += 1
            digits.append(str(value))
        index += 1
    return "".join(digits)


def check_repair_status(ticket_number: object) -> dict[str, Any]:
    """Status of one repair, as a small JSON-ready dict the LLM can read back aloud.

    Never raises on bad input: the caller is an LLM, and a clear `error` field lets
    it ask the customer again instead of ending the turn in silence.
    """
    ticket = normalize_ticket_number(ticket_number)
    if len(ticket) != TICKET_DIGITS:
        return {
            "found": False,
            "ticket_number": ticket,
            "error": f"a repair ticket number has {TICKET_DIGITS} digits; "
            f"ask the customer to repeat it",
        }
    repair = REPAIR_TICKETS.get(ticket)
    if repair is None:
        return {
            "found": False,
            "ticket_number": ticket,
            "error": "no repair with this ticket number; ask the customer to check it "
            "or call the shop",
        }
    return {"found": True, "ticket_number": ticket, **repair}


async def handle_check_repair_status(params: FunctionCallParams) -> None:
    """pipecat handler: run the lookup and hand the result back to the LLM."""
    result = check_repair_status(params.arguments.get("ticket_number", ""))
    await params.result_callback(result)


def tools_schema() -> ToolsSchema:
    """Every tool this assistant offers (one), in pipecat's provider-neutral form."""
    return ToolsSchema(standard_tools=[REPAIR_STATUS_SCHEMA])


def register_tools(llm: LLMService, context: LLMContext) -> None:
    """Let one session's LLM call the tool: register the handler, advertise the schema.

    Call this only when the endpoint streams OpenAI `tool_calls` (see
    `assistant.detect_tool_support`): a server that merely renders tools into the
    prompt makes the model *say* its tool call, which the voice would read aloud.
    """
    llm.register_function(TOOL_NAME, handle_check_repair_status)
    context.set_tools(tools_schema())
