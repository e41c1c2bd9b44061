"""Router placeholder: filled in by the area that owns it."""

from fastapi import APIRouter

router = APIRouter()
