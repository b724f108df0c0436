from __future__ import annotations

from fastapi import APIRouter

from labelshare.api.deps import ChainDep, SessionDep, SettingsDep
from labelshare.api.schemas import NonceOut, SessionOut, SignInIn
from labelshare.auth import issue_nonce, sign_in

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/nonce", response_model=NonceOut)
def get_nonce(session: SessionDep, settings: SettingsDep) -> NonceOut:
    """A single-use nonce to put in an EIP-4361 (Sign-In with Ethereum) message."""
    nonce = issue_nonce(session, settings)
    return NonceOut(nonce=nonce.nonce, expires_at=nonce.expires_at)


@router.post("/verify", response_model=SessionOut)
def verify(body: SignInIn, session: SessionDep, settings: SettingsDep, chain: ChainDep) -> SessionOut:
    """Checks the signed EIP-4361 message and returns a short-lived bearer token."""
    signed_in = sign_in(session, settings, chain.chain_id, body.message, body.signature)
    return SessionOut(token=signed_in.token, address=signed_in.address, expires_at=signed_in.expires_at,
                      requester=signed_in.address.lower() in settings.requester_addresses)
