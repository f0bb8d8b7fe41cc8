"""`/v1/cooperatives/import` and `/v1/cooperatives/export`: the registry as one CSV/XLSX sheet, Vietnamese headers.

Registered before the cooperatives router, so `GET /cooperatives/export` is not taken for a cooperative id.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.registry.api.dependencies import WRITE, Registry, get_registry
from services.registry.domain.transfer import CooperativeTransfer
from services.registry.domain.transfer_columns import HEADERS
from services.registry.domain.transfer_files import (
    CSV_MEDIA_TYPE,
    MAX_BLANK_ROWS,
    MAX_READ_SECONDS,
    MAX_XLSX_EXPANDED_BYTES,
    XLSX_MEDIA_TYPE,
)
from services.registry.settings import RegistrySettings
from shared.auth import Principal, require_scope
from shared.errors import PayloadTooLarge
from shared.ratelimit import RATE_LIMITED
from shared.text import NO_CONTROL_CHARACTERS

router = APIRouter(prefix="/cooperatives", tags=["import/export"])
READ = require_scope("registry:read")


class ImportResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": False,
                    "rows": 128,
                    "created": 12,
                    "updated": 9,
                    "unchanged": 107,
                    "status_reports_added": 15,
                }
            ]
        }
    )

    dry_run: bool = Field(description="true: chỉ kiểm tra, không ghi gì (validated only, nothing written)")
    rows: int = Field(description="Số dòng dữ liệu trong tệp, không kể dòng trống (data rows)")
    created: int = Field(description="HTX mới được đăng ký (new cooperatives)")
    updated: int = Field(description="HTX đã có được sửa thông tin và/hoặc thêm báo cáo (existing ones that changed)")
    unchanged: int = Field(description="Dòng trùng khớp với dữ liệu hiện có, không ghi gì (rows that changed nothing)")
    status_reports_added: int = Field(description="Báo cáo tình hình được thêm (status reports added)")


class ImportRowError(BaseModel):
    row: int | None = Field(description="Số dòng trong trang tính, dòng tiêu đề là 1; null: lỗi của cả tệp")
    column: str | None = Field(description="Tiêu đề cột (Vietnamese header)", examples=["Cán bộ đã qua đào tạo"])
    field: str | None = Field(description="Tên trường API (API field name)", examples=["managers_trained"])
    message_vi: str
    message: str
    code: str = Field(
        description="invalid | duplicate | unknown_unit | outside_jurisdiction | unknown_column | duplicate_column | "
        "missing_column | file"
    )


IMPORT_ERROR_EXAMPLE: dict[str, Any] = {
    "type": "https://htx-monitor.cantho.gov.vn/problems/validation-error",
    "title": "Dữ liệu không hợp lệ (invalid input)",
    "status": 422,
    "detail": "2 dòng có lỗi; không có dữ liệu nào được ghi (2 row(s) with errors; nothing was written)",
    "instance": "/v1/cooperatives/import",
    "error_count": 2,
    "errors": [
        {
            "row": 3,
            "column": "Cán bộ đã qua đào tạo",
            "field": "managers_trained",
            "message_vi": "Không được lớn hơn Tổng số cán bộ quản lý (7)",
            "message": "managers_trained cannot exceed managers_total (7)",
            "code": "invalid",
        },
        {
            "row": 5,
            "column": "Mã đơn vị hành chính",
            "field": "unit_code",
            "message_vi": "Đơn vị 926 nằm ngoài địa bàn quản lý của UBND-916",
            "message": "unit 926 is outside UBND-916's jurisdiction",
            "code": "outside_jurisdiction",
        },
    ],
}


class ImportProblem(BaseModel):
    """The 422 answer: every bad row at once (application/problem+json)."""

    model_config = ConfigDict(json_schema_extra={"examples": [IMPORT_ERROR_EXAMPLE]})

    type: str
    title: str
    status: int
    detail: str
    instance: str
    error_count: int = Field(description="All errors found; at most 500 are listed")
    errors: list[ImportRowError]


def _settings(registry: Registry) -> RegistrySettings:
    settings = registry.runtime.settings
    if not isinstance(settings, RegistrySettings):  # pragma: no cover - the app factory always builds these
        raise RuntimeError("the registry runs with RegistrySettings")
    return settings


def _transfer(registry: Registry) -> CooperativeTransfer:
    runtime = registry.runtime
    return CooperativeTransfer(runtime.sessionmaker, runtime.outbox, runtime.clock)


@router.post(
    "/import",
    response_model=ImportResult,
    summary="Nhập danh sách HTX từ tệp CSV/XLSX (bulk import)",
    description=(
        "Tệp CSV (UTF-8, có hoặc không có BOM) hoặc XLSX; dòng 1 là tiêu đề tiếng Việt: "
        + ", ".join(f"«{h}»" for h in HEADERS)
        + ". Mỗi dòng được ghi theo mã số HTX: mã mới → đăng ký HTX (và báo cáo đầu tiên nếu có số liệu); "
        "mã đã có → cập nhật các trường khác đi và thêm báo cáo nếu số liệu khác báo cáo gần nhất cùng kỳ. "
        "Mọi dòng được kiểm tra trước; chỉ một dòng lỗi là không ghi gì (422 liệt kê từng dòng, kể cả dòng "
        "ngoài địa bàn quản lý). Upsert by registration code, all or nothing, in one transaction."
    ),
    responses={
        401: {"description": "No or invalid token"},
        403: {"description": "Token lacks registry:write, or the agency does not keep the registry"},
        409: {"description": "A code in the file was registered concurrently; import again"},
        413: {"description": "The file is larger than REGISTRY_IMPORT_MAX_BYTES"},
        **RATE_LIMITED,
        422: {
            "description": (
                "Bad rows (each listed), unreadable file or too many rows; nothing was written. A file is refused "
                f"(naming it) beyond REGISTRY_IMPORT_MAX_ROWS data rows, {MAX_BLANK_ROWS:,} empty rows, an XLSX "
                f"that inflates to more than {MAX_XLSX_EXPANDED_BYTES // 2**20} MiB, or {MAX_READ_SECONDS:g} s "
                "of reading"
            ),
            "model": ImportProblem,
            "content": {"application/problem+json": {"example": IMPORT_ERROR_EXAMPLE}},
        },
    },
)
async def import_cooperatives(
    file: UploadFile = File(description="CSV (UTF-8) hoặc XLSX, dòng đầu là tiêu đề tiếng Việt"),
    dry_run: bool = Query(False, description="Chỉ kiểm tra và đếm, không ghi gì (validate only)"),
    registry: Registry = Depends(get_registry),
    principal: Principal = Depends(WRITE),
) -> ImportResult:
    settings = _settings(registry)
    limit = settings.import_max_bytes
    # The upload is spooled by the multipart parser (to disk beyond 1 MiB, and the body-size middleware caps
    # it); only up to limit + 1 bytes ever come into memory here.
    if file.size is not None and file.size > limit:
        raise _too_large(limit)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    summary = await _transfer(registry).import_file(
        principal,
        data,
        filename=file.filename,
        content_type=file.content_type,
        dry_run=dry_run,
        max_rows=settings.import_max_rows,
    )
    return ImportResult.model_validate(asdict(summary))


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Tệp lớn hơn {limit} byte; hãy chia nhỏ tệp (the file exceeds {limit} bytes)", max_bytes=limit
    )


@router.get(
    "/export",
    summary="Xuất danh sách HTX ra CSV/XLSX (export)",
    description=(
        "Mọi HTX (hoặc trong một đơn vị, gồm cả đơn vị cấp dưới) với cùng tiêu đề tiếng Việt như khi nhập, "
        "số liệu của báo cáo gần nhất. Nhập lại tệp này không thay đổi gì. CSV là UTF-8 có BOM để Excel hiển thị "
        "đúng tiếng Việt. Exports what the import reads: re-importing it changes nothing."
    ),
    response_class=Response,
    responses={
        200: {
            "description": "The sheet, as an attachment htx-<date>.csv or .xlsx",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        401: {"description": "No or invalid token"},
        403: {"description": "Token lacks registry:read"},
        422: {"description": "Unknown unit"},
    },
)
async def export_cooperatives(
    fmt: Literal["csv", "xlsx"] = Query("csv", alias="format", description="csv hoặc xlsx"),
    unit: str | None = Query(
        None,
        max_length=20,
        pattern=NO_CONTROL_CHARACTERS,
        description="Đơn vị, gồm cả các đơn vị cấp dưới",
        examples=["926"],
    ),
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(READ),
) -> Response:
    body = await _transfer(registry).export(unit=unit, fmt=fmt)
    filename = f"htx-{registry.runtime.clock.today().isoformat()}.{fmt}"
    return Response(
        body,
        media_type=XLSX_MEDIA_TYPE if fmt == "xlsx" else CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
