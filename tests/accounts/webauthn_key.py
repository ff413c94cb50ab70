"""A software security key for the WebAuthn tests: what a browser and a FIDO2 key together
send to the server, built byte by byte (WebAuthn Level 2, sections 6.1, 6.5 and 7), so that
allauth (python-fido2) verifies a real P-256 signature.

    key = SoftwareKey()
    credential = key.register(creation_options)   # the JSON that webauthn-json posts
    response = key.sign(request_options)          # an assertion for a sign-in

Options are what allauth puts into the page (`js_data`) or the headless API returns; the
results are the JSON objects allauth's forms and headless inputs take as `credential`.
"""

import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.utils import websafe_decode, websafe_encode

USER_PRESENT = 0x01
USER_VERIFIED = 0x04
ATTESTED_CREDENTIAL_DATA = 0x40
NO_AAGUID = bytes(16)  # "none" attestation: the model of the key is not disclosed


def sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


class SoftwareKey:
    """One credential on one key: an EC P-256 key pair, a random credential id, a counter."""

    def __init__(self, origin: str = "https://testserver"):
        self.origin = origin
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_handle: bytes | None = None
        self.authenticator = None  # allauth's row, once key_set_up_earlier() stored it

    # --- what the key holds ------------------------------------------------------------

    def cose_public_key(self) -> bytes:
        """The public key as a COSE_Key map (RFC 9052): EC2, ES256, P-256, x, y."""
        numbers = self.private_key.public_key().public_numbers()
        return cbor.encode(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def authenticator_data(self, rp_id: str, *, attested: bool, verified: bool) -> bytes:
        """rpIdHash (32) | flags (1) | signCount (4, big-endian) [| attested credential]."""
        self.sign_count += 1
        flags = USER_PRESENT | (USER_VERIFIED if verified else 0)
        data = sha256(rp_id.encode())
        if attested:
            flags |= ATTESTED_CREDENTIAL_DATA
            data += bytes([flags]) + struct.pack(">I", self.sign_count)
            data += NO_AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id
            return data + self.cose_public_key()
        return data + bytes([flags]) + struct.pack(">I", self.sign_count)

    def client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        """The browser's CollectedClientData: what was asked, by which page."""
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()

    # --- the two ceremonies ------------------------------------------------------------

    def register(self, creation_options: dict, *, verified: bool = True) -> dict:
        """navigator.credentials.create() with "none" attestation, as JSON."""
        options = creation_options["publicKey"]
        self.user_handle = websafe_decode(options["user"]["id"])
        client_data = self.client_data("webauthn.create", options["challenge"])
        auth_data = self.authenticator_data(options["rp"]["id"], attested=True, verified=verified)
        attestation = cbor.encode({"fmt": "none", "attStmt": {}, "authData": auth_data})
        response = {"attestationObject": websafe_encode(attestation), "transports": ["usb"]}
        return self.credential(client_data, response, {"credProps": {"rk": False}})

    def sign(
        self,
        request_options: dict,
        *,
        verified: bool = True,
        origin: str | None = None,
        tamper: bool = False,
    ) -> dict:
        """navigator.credentials.get(): an ECDSA-SHA256 signature over authenticatorData ||
        SHA-256(clientDataJSON), as JSON. `tamper` flips a bit of the signature."""
        options = request_options["publicKey"]
        client_data = self.client_data("webauthn.get", options["challenge"], origin)
        auth_data = self.authenticator_data(options["rpId"], attested=False, verified=verified)
        signature = self.private_key.sign(
            auth_data + sha256(client_data), ec.ECDSA(hashes.SHA256())
        )
        if tamper:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        response = {
            "authenticatorData": websafe_encode(auth_data),
            "signature": websafe_encode(signature),
            "userHandle": websafe_encode(self.user_handle) if self.user_handle else None,
        }
        return self.credential(client_data, response, {})

    def credential(self, client_data: bytes, response: dict, extensions: dict) -> dict:
        """A PublicKeyCredential as the browser's JSON serialisation gives it."""
        return {
            "type": "public-key",
            "id": websafe_encode(self.credential_id),
            "rawId": websafe_encode(self.credential_id),
            "authenticatorAttachment": "cross-platform",
            "response": {"clientDataJSON": websafe_encode(client_data), **response},
            "clientExtensionResults": extensions,
        }


def key_set_up_earlier(user, key: SoftwareKey | None = None, name: str = "YubiKey 5"):
    """A security key the user added before the test (stored as allauth's add flow stores
    it, without the pages). Returns the key; its `authenticator` is allauth's row."""
    from allauth.account.utils import user_pk_to_url_str
    from allauth.mfa.webauthn.internal.auth import WebAuthn

    key = key or SoftwareKey()
    rp_id = key.origin.split("://", 1)[1].split(":")[0]
    creation_options = {
        "publicKey": {
            "challenge": websafe_encode(os.urandom(32)),
            "rp": {"id": rp_id, "name": "Token Portal"},
            "user": {"id": websafe_encode(user_pk_to_url_str(user).encode())},
        }
    }
    key.authenticator = WebAuthn.add(user, name, key.register(creation_options)).instance
    return key
