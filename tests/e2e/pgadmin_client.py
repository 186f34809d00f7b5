"""A minimal pgAdmin 4 web client: log in, list servers, connect to one."""

import re

import requests

TIMEOUT = 15


class PgAdminClient:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.api_headers: dict[str, str] = {}

    def _url(self, path: str) -> str:
        return self.base_url + path

    def login(self, email: str, password: str) -> None:
        page = self.session.get(self._url("/login"), timeout=TIMEOUT)
        page.raise_for_status()
        token = re.search(r'csrfToken"\s*:\s*"([^"]+)"', page.text)
        assert token, "no CSRF token on pgAdmin's login page"
        answer = self.session.post(
            self._url("/authenticate/login"),
            data={"csrf_token": token.group(1), "email": email, "password": password},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        location = answer.headers.get("Location", "")
        assert answer.status_code in (302, 303) and "/browser" in location, (
            f"pgAdmin login failed: {answer.status_code} -> {location!r}"
        )
        utils = self.session.get(self._url("/browser/js/utils.js"), timeout=TIMEOUT)
        api_token = re.search(r"pgAdmin\['csrf_token'\]\s*=\s*'([^']+)'", utils.text)
        assert api_token, "no API CSRF token after login"
        self.api_headers = {"X-pgA-CSRFToken": api_token.group(1)}

    def servers(self) -> list[dict]:
        """Every registered server as {"gid", "sid", "label"}."""
        groups = self.session.get(
            self._url("/browser/server_group/nodes/"),
            headers=self.api_headers,
            timeout=TIMEOUT,
        ).json()
        found = []
        for group in groups.get("data") or []:
            answer = self.session.get(
                self._url(f"/browser/server/nodes/{group['_id']}/"),
                headers=self.api_headers,
                timeout=TIMEOUT,
            )
            if answer.status_code == 410:  # a group without servers
                continue
            payload = answer.json()
            for node in payload.get("result") or payload.get("data") or []:
                found.append({"gid": group["_id"], "sid": node["_id"], "label": node["label"]})
        return found

    def connect(self, gid: int, sid: int) -> requests.Response:
        """Connect without giving a password, as one click in the tree does."""
        return self.session.post(
            self._url(f"/browser/server/connect/{gid}/{sid}"),
            json={},
            headers=self.api_headers,
            timeout=TIMEOUT,
        )
