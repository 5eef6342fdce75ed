"""Matching a request to a route of the template, as API Gateway does (most specific first)."""

from __future__ import annotations

from local.template_model import DEFAULT_ROUTE, Route


def _match_path(template_path: str, path: str) -> dict[str, str] | None:
    """Path parameters if `path` matches the route path ({name} = one segment, {name+} = the rest)."""
    pattern_parts, parts = template_path.split("/"), path.split("/")
    params: dict[str, str] = {}
    for index, pattern in enumerate(pattern_parts):
        if pattern.startswith("{") and pattern.endswith("+}"):
            rest = "/".join(parts[index:])
            if not rest:
                return None
            params[pattern[1:-2]] = rest
            return params
        if index >= len(parts):
            return None
        if pattern.startswith("{") and pattern.endswith("}"):
            if not parts[index]:
                return None
            params[pattern[1:-1]] = parts[index]
        elif pattern != parts[index]:
            return None
    return params if len(parts) == len(pattern_parts) else None


def _specificity(route: Route, method: str) -> tuple[int, int, int, int]:
    segments = route.path.strip("/").split("/")
    greedy = any(s.endswith("+}") for s in segments)
    literal = sum(1 for s in segments if not s.startswith("{"))
    return (0 if greedy else 1, literal, len(segments), 1 if route.method == method else 0)


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = [r for r in routes if r.path != DEFAULT_ROUTE]
        self.default = next((r for r in routes if r.path == DEFAULT_ROUTE), None)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        best: tuple[tuple[int, int, int, int], Route, dict[str, str]] | None = None
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            params = _match_path(route.path, path)
            if params is None:
                continue
            key = _specificity(route, method)
            if best is None or key > best[0]:
                best = (key, route, params)
        if best is not None:
            return best[1], best[2]
        return self.default, {}
