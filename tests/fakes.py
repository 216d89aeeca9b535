"""A chat model for logic tests: answers by role, records every prompt it was sent.

The role of a call (``judge``, ``condense``, ``answer``, ``reasons``) is read from the prompt
itself, by the fixed text of each template, so tests never depend on the chain's call order
and can assert on what the model received::

    chat = RecordingChat(replies={"answer": "Cradle plays RDR2 [1]."}, p_yes=0.9)
    chain.ask(question)
    assert chat.sent("answer")[0] ...   # the messages of the first answer call
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from assistant.prompts import load as load_prompt

ROLES = ("judge", "condense", "reasons", "answer")


def _text(messages: list[Any]) -> tuple[str, str]:
    """(system text, last user text) of LangChain messages or (role, text) pairs."""
    system = user = ""
    for message in messages:
        role, content = (message if isinstance(message, tuple) else (message.type, message.content))
        if role == "system":
            system = str(content)
        else:
            user = str(content)
    return system, user


def role_of(messages: list[Any]) -> str:
    """Which prompt these messages were rendered from."""
    system, user = _text(messages)
    judge_tail = load_prompt("relevance").user.rsplit("}", 1)[-1].strip()
    if judge_tail and user.strip().endswith(judge_tail):
        return "judge"
    for role, name in (("condense", "condense"), ("reasons", "recommend"), ("answer", "answer")):
        if system.strip() == load_prompt(name).system.strip():
            return role
    return "unknown"


class RecordingChat(BaseChatModel):
    """Replies per role (a list: one per call in that role, the last repeated; an exception is
    raised); ``p_yes`` scores the judge as the local model does."""

    replies: dict[str, Any] = Field(default_factory=dict)
    p_yes: float = 0.9
    calls: list[tuple[str, list[Any]]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording-fake"

    def sent(self, role: str) -> list[list[Any]]:
        """The messages of every call made in ``role``, in order."""
        return [messages for r, messages in self.calls if r == role]

    def roles(self) -> list[str]:
        return [r for r, _ in self.calls]

    def yes_probability(self, messages: Any) -> float:
        self.calls.append(("judge", list(messages)))
        return float(self.p_yes)

    def _reply(self, messages: list[BaseMessage]) -> str:
        role = role_of(messages)
        self.calls.append((role, list(messages)))
        reply = self.replies.get(role, "")
        if isinstance(reply, list):
            index = sum(1 for r, _ in self.calls if r == role) - 1
            reply = reply[min(index, len(reply) - 1)] if reply else ""
        if isinstance(reply, BaseException):
            raise reply
        return str(reply)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._reply(messages)))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        text = self._reply(messages)
        for i, word in enumerate(text.split(" ")):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))


class ReplyJudgedChat(RecordingChat):
    """A model that cannot score P(yes) (a remote one): the judge reads its ``judge`` reply."""

    yes_probability: ClassVar[None] = None
