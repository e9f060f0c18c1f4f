"""Flask extensions created once and bound in ``create_app`` (the Flask tutorial pattern)."""

from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base shared by every model and by Alembic's autogenerate."""


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
