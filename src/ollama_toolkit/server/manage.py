"""Model management routes: create, blobs, copy, delete, pull, push."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
