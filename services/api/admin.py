"""AdminService over gRPC: holds (`HoldService`), tokens (`TokenService`) and the node-wide
operations (`AdminService`: retention, statistics, the model, the audit trail)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from google.protobuf.timestamp_pb2 import Timestamp

from services.api import convert
from services.api.calls import Context, caller
from services.api.model_admin import model_spec_arg, model_status_message
from services.api.timestamps import ms_from_ts, ts_from_ms
from services.application.admin import AdminService
from services.application.holds import HoldService
from services.application.tokens import ListedToken, TokenService
from services.security.audit import AuditHead
from storage.retention import Hold
from storage.timeutil import SECOND_MS
from vigil.v1 import admin_pb2, admin_pb2_grpc


def ts_from_s(seconds: float | None) -> Timestamp | None:
    return None if seconds is None else ts_from_ms(round(seconds * SECOND_MS))


def hold_message(h: Hold) -> admin_pb2.Hold:
    return admin_pb2.Hold(hold_id=h.hold_id, camera_id=h.camera_id, reason=h.reason,
                          created_by=h.created_by, time_range=convert.range_message(h.start_ms, h.end_ms))


def token_message(t: ListedToken) -> admin_pb2.TokenInfo:
    r = t.record
    return admin_pb2.TokenInfo(token_hash=r.token_hash, subject=r.subject, role=r.role, groups=r.groups,
                               created=ts_from_s(r.created), expires=ts_from_s(r.expires), expired=t.expired)


def audit_head_message(head: AuditHead) -> admin_pb2.AuditHead:
    return admin_pb2.AuditHead(node=head.node, seq=head.seq, hash=head.hash, time=head.time)


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, holds: HoldService, tokens: TokenService, admin: AdminService) -> None:
        self._holds, self._tokens, self._admin = holds, tokens, admin

    async def PlaceHold(self, request: admin_pb2.PlaceHoldRequest,
                        context: Context) -> admin_pb2.Hold:
        start, end = convert.time_range(request.time_range)
        hold = await asyncio.to_thread(self._holds.place, caller(), request.camera_id, start, end,
                                       request.reason)
        return hold_message(hold)

    async def ReleaseHold(self, request: admin_pb2.ReleaseHoldRequest,
                          context: Context) -> admin_pb2.ReleaseHoldResponse:
        await asyncio.to_thread(self._holds.release, caller(), request.hold_id)
        return admin_pb2.ReleaseHoldResponse()

    async def ListHolds(self, request: admin_pb2.ListHoldsRequest,
                        context: Context) -> admin_pb2.ListHoldsResponse:
        holds = await asyncio.to_thread(self._holds.list, caller())
        return admin_pb2.ListHoldsResponse(holds=[hold_message(h) for h in holds])

    async def RunRetention(self, request: admin_pb2.RunRetentionRequest,
                           context: Context) -> admin_pb2.RunRetentionResponse:
        report = await asyncio.to_thread(self._admin.run_retention, caller())
        return admin_pb2.RunRetentionResponse(
            segments_deleted=report.segments_deleted, bytes_deleted=report.bytes_deleted,
            vectors_deleted=report.vectors_deleted, segments_held=report.held)

    async def CreateToken(self, request: admin_pb2.CreateTokenRequest,
                          context: Context) -> admin_pb2.CreateTokenResponse:
        expires = ms_from_ts(request.expires) / SECOND_MS if request.HasField("expires") else None
        issued = await asyncio.to_thread(self._tokens.create, caller(), request.subject, request.role,
                                         list(request.groups), expires)
        return admin_pb2.CreateTokenResponse(token=issued.token, token_hash=issued.token_hash,
                                             expires=ts_from_s(issued.expires))

    async def RevokeToken(self, request: admin_pb2.RevokeTokenRequest,
                          context: Context) -> admin_pb2.RevokeTokenResponse:
        await asyncio.to_thread(self._tokens.revoke, caller(), request.token_hash)
        return admin_pb2.RevokeTokenResponse()

    async def ListTokens(self, request: admin_pb2.ListTokensRequest,
                         context: Context) -> admin_pb2.ListTokensResponse:
        tokens = await asyncio.to_thread(self._tokens.list, caller())
        return admin_pb2.ListTokensResponse(tokens=[token_message(t) for t in tokens])

    async def GetStats(self, request: admin_pb2.GetStatsRequest,
                       context: Context) -> admin_pb2.GetStatsResponse:
        return admin_pb2.GetStatsResponse(**asdict(await asyncio.to_thread(self._admin.stats, caller())))

    async def SwitchModel(self, request: admin_pb2.SwitchModelRequest,
                          context: Context) -> admin_pb2.ModelStatus:
        status = await asyncio.to_thread(self._admin.switch_model, caller(), model_spec_arg(request.model))
        return model_status_message(status)

    async def GetModelStatus(self, request: admin_pb2.GetModelStatusRequest,
                             context: Context) -> admin_pb2.ModelStatus:
        return model_status_message(await asyncio.to_thread(self._admin.model_status, caller()))

    async def VerifyAudit(self, request: admin_pb2.VerifyAuditRequest,
                          context: Context) -> admin_pb2.VerifyAuditResponse:
        notarised = (request.head.seq, request.head.hash) if request.HasField("head") else None
        check = await asyncio.to_thread(self._admin.verify_audit, caller(), notarised)
        return admin_pb2.VerifyAuditResponse(records=check.records, ok=check.ok, reason=check.reason,
                                             first_broken_seq=check.first_broken_seq or 0,
                                             unverified_nodes=check.unverified_nodes,
                                             unkeyed_nodes=check.unkeyed_nodes,
                                             head=audit_head_message(check.head) if check.head else None)

    async def GetAuditHead(self, request: admin_pb2.GetAuditHeadRequest,
                           context: Context) -> admin_pb2.AuditHead:
        return audit_head_message(await asyncio.to_thread(self._admin.audit_head, caller()))
