"""POST /api/chat: messages rendered through the model's template, tool calls and thinking."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
