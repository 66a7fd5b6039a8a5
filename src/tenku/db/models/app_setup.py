from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, new_id


class AppSetup(Timestamps, Base):
    """An app made from a tarball's app.json: what was asked, how far the runtime got.

    The request creates the app and this row (`pending`, step `fetch`) in one transaction;
    the runtime then performs the steps in order, recording each as it completes, so that
    a runtime that comes back after a restart resumes at the recorded step. A setup that
    fails is `failed` at once; its step is `cleanup` until its add-ons and app are gone.
    """

    __tablename__ = "app_setups"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Not a foreign key: a failed setup deletes its app, and the record of it stays.
    app_id: Mapped[uuid.UUID] = mapped_column(index=True)
    app_name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    # fetch, config, addons, build, formation, postdeploy, cleanup, done.
    step: Mapped[str] = mapped_column(String(16), default="fetch")
    failure_message: Mapped[str | None] = mapped_column(Text)
    manifest_errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_url: Mapped[str] = mapped_column(Text)
    source_checksum: Mapped[str | None] = mapped_column(String(128))
    source_version: Mapped[str | None] = mapped_column(Text)
    # The fetched tarball, kept in the blob store for the build.
    source_blob_key: Mapped[str | None] = mapped_column(String(255))
    # The request's `overrides.env`, until the config vars are set.
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # app.json as read and checked.
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The add-on made for each of the manifest's `addons`, by position (null: none yet).
    addon_ids: Mapped[list[str | None]] = mapped_column(JSON, default=list)
    # The build and its status, kept here: a failed setup's build goes with its app.
    build_id: Mapped[uuid.UUID | None]
    build_status: Mapped[str | None] = mapped_column(String(16))
    postdeploy_dyno: Mapped[str | None] = mapped_column(String(64))
    postdeploy_output: Mapped[str | None] = mapped_column(Text)
    postdeploy_exit_code: Mapped[int | None] = mapped_column(Integer)
    resolved_success_url: Mapped[str | None] = mapped_column(Text)
    # The runtime performing it (the in-flight mark; see docs/architecture.md).
    runner: Mapped[str | None] = mapped_column(String(128))
