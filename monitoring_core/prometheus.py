"""The one place that talks to Prometheus; answers come back as pandas objects.

`read_samples` is how the services read data: the raw samples Prometheus stored, through a
range selector `m[w]` evaluated at the window's end (as the seed's `get_metric_range_data`
did), not a `query_range` grid, whose 5-minute lookback repeats old values into gaps and past
a series' end. Windows are closed, `[start, end]`, on Prometheus 2 and 3 alike (see
`read_samples`). An expression that is not a plain selector has no stored samples of its own:
it is evaluated on the step grid by a subquery, and its series say so (`raw=False`).

Errors are split by whose fault they are: `PrometheusQueryError` for a query Prometheus
rejects (the caller's input: 400; `QueryTooCostly` when it timed out or matched too many
series), `PrometheusUnavailable` for a server that cannot be reached or fails (503). Error
texts name no address (it is logged): they reach API answers and run summaries.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from monitoring_core.redact import redact_url, redact_urllib3_retries
from monitoring_core.settings import PrometheusSettings


class PrometheusUnavailable(Exception):
    """Prometheus cannot be reached or answered with a server error."""


log = logging.getLogger(__name__)


class PrometheusQueryError(ValueError):
    """Prometheus rejected the query (bad PromQL, too many points, unknown function)."""


class QueryTooCostly(PrometheusQueryError):
    """The query ran past its time limit, or its answer has more series than the cap."""


@dataclass(frozen=True)
class SampleSeries:
    """One series of a range query: its name, labels (without __name__) and samples."""

    metric: str
    labels: dict[str, str]
    values: pd.Series  # float64, indexed by a UTC DatetimeIndex
    raw: bool = True  # stored samples; False: an expression evaluated on the step grid


# A vector selector and nothing else: an optional metric name, optional {matchers}. Anything
# more (functions, operators, offset, @) is an expression without stored samples of its own.
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_STRING = r'"(?:[^"\\\n]|\\.)*"' + r"|'(?:[^'\\\n]|\\.)*'|`[^`]*`"
_MATCHER = rf"\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*(?:{_STRING})\s*"
_SELECTOR = re.compile(
    rf"^\s*(?:(?:{_NAME})\s*(?:\{{(?:{_MATCHER}(?:,{_MATCHER})*,?)?\s*\}})?"
    rf"|\{{{_MATCHER}(?:,{_MATCHER})*,?\s*\}})\s*$"
)
# Range of one instant query at most, in steps: the same bound as query_range's points, so
# that one answer holds at most ~11,000 samples per series at the scrape interval.
CHUNK_STEPS = 11_000


def is_selector(promql: str) -> bool:
    """Whether `promql` is a plain vector selector (`m`, `m{a="x"}`, `{__name__="m"}`)."""
    return bool(_SELECTOR.match(promql))


class PrometheusClient:
    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        # The log names the server (without the secrets a URL may carry); errors only say
        # "Prometheus".
        self.address = redact_url(settings.url)
        redact_urllib3_retries()
        self.where = "Prometheus"
        # One quick retry: a Prometheus that is down should turn into a 503 within seconds.
        # Not on 503: that is Prometheus' answer to a query past its timeout, which must not
        # run twice; raise_on_status=False hands the last answer's error text on.
        retry = Retry(
            total=1, backoff_factor=0.2, status_forcelist=(502, 504), raise_on_status=False
        )
        self._session = requests.Session()
        self._api = PrometheusConnect(
            url=settings.url,
            disable_ssl=True,
            retry=retry,
            timeout=settings.timeout_seconds,
            session=self._session,
        )

    def _call(
        self, method: str, timeout_seconds: float | None = None, **kwargs: object
    ) -> list[dict]:
        # Prometheus stops evaluating at its own `timeout` (the client's read timeout only
        # stops waiting): the query's cost is bounded on the server.
        limit = min(timeout_seconds or self.settings.timeout_seconds, self.settings.timeout_seconds)
        params = {"timeout": f"{limit:g}s", **dict(kwargs.pop("params", None) or {})}  # type: ignore[call-overload]
        try:
            return getattr(self._api, method)(params=params, **kwargs)
        except PrometheusApiClientException as exc:
            text = str(exc)
            if "HTTP Status Code 400" in text or "HTTP Status Code 422" in text:
                raise PrometheusQueryError(_reason(text)) from exc
            if "HTTP Status Code 503" in text and "timeout" in text:
                raise QueryTooCostly(f"query timed out after {limit:g}s") from exc
            log.warning("Prometheus at %s failed: %s", self.address, _reason(text))
            raise PrometheusUnavailable(f"{self.where}: {_reason(text)}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            # A proxy's HTML page or a truncated body: not an answer of the HTTP API. (First:
            # requests' JSONDecodeError is also a RequestException.)
            raise PrometheusUnavailable(f"{self.where}: malformed answer ({exc})") from exc
        except requests.RequestException as exc:
            log.warning("Prometheus at %s not reachable: %s", self.address, type(exc).__name__)
            raise PrometheusUnavailable(
                f"{self.where}: not reachable ({type(exc).__name__})"
            ) from exc

    def query(self, promql: str) -> list[dict]:
        """An instant query; the raw result list of the HTTP API."""
        return self._call("custom_query", query=promql)

    def series_labels(self, selector: str, start: datetime, end: datetime) -> list[dict[str, str]]:
        """The label sets (with __name__) that a selector matches between start and end."""
        try:
            response = self._session.get(  # the client has no /series helper
                f"{self.settings.url}/api/v1/series",
                params={
                    "match[]": selector,
                    "start": str(start.timestamp()),
                    "end": str(end.timestamp()),
                },  # fmt: skip
                timeout=self.settings.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise PrometheusUnavailable(
                f"{self.where}: not reachable ({type(exc).__name__})"
            ) from exc
        try:
            body = response.json()
            if response.status_code in (400, 422):
                raise PrometheusQueryError(str(body.get("error", "bad selector"))[:300])
            if response.status_code != 200:
                raise PrometheusUnavailable(f"{self.where}: HTTP {response.status_code}")
            return list(body["data"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, PrometheusQueryError):
                raise
            raise PrometheusUnavailable(
                f"{self.where}: HTTP {response.status_code}, malformed answer"
            ) from exc

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """Every metric family's type, help and unit (`/api/v1/metadata`), by family name.

        Prometheus keeps it per target; a federating Prometheus and some exporters have none,
        and an empty answer is a valid one (callers fall back to naming conventions).
        """
        try:
            response = self._session.get(
                f"{self.settings.url}/api/v1/metadata", timeout=self.settings.timeout_seconds
            )
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise PrometheusUnavailable(
                f"{self.where}: not reachable ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200 or not isinstance(body.get("data"), dict):
            raise PrometheusUnavailable(f"{self.where}: HTTP {response.status_code} on metadata")
        return dict(body["data"])

    def query_range(
        self, promql: str, start: datetime, end: datetime, step_seconds: int | None = None
    ) -> list[SampleSeries]:
        """A range query at the step (default: the scrape step), one `SampleSeries` per result.

        Not for statistics, counts or violations (its grid repeats old samples into gaps):
        those read raw samples (`read_samples`). Kept for the seed's way in bench/bench_sla.py.
        """
        step = step_seconds or self.settings.step_seconds
        result = self._call(
            "custom_query_range", query=promql, start_time=start, end_time=end, step=f"{step}s"
        )
        return [to_sample_series(item, promql) for item in result]

    def read_samples(
        self,
        promql: str,
        start: datetime,
        end: datetime,
        step_seconds: int | None = None,
        timeout_seconds: float | None = None,
        max_series: int | None = None,
    ) -> list[SampleSeries]:
        """The samples of every series of `promql` with `start <= t <= end`.

        A plain selector reads the stored samples: `sel[<d + 1 ms>]` evaluated at each chunk's
        end (chunks of at most `CHUNK_STEPS` steps, usually one for a 12 h window). The extra
        millisecond makes the answer cover the chunk's start on Prometheus 3, whose range
        selectors are left-open, `(t - d, t]`, as on Prometheus 2, whose ranges are closed,
        `[t - d, t]`; samples outside `[start, end]` (and the chunk boundaries already read)
        are then dropped here, so the window is `[start, end]` on both. Any other expression
        is evaluated on the step grid by the subquery `(expr)[<d + 1 ms>:<step>]`, with the
        same rule, and its series carry `raw=False`.

        ``timeout_seconds`` bounds each evaluation in Prometheus (at most the settings'),
        ``max_series`` the answer: more series raise `QueryTooCostly` before any is converted.
        """
        step = step_seconds or self.settings.step_seconds
        raw = is_selector(promql)
        chunk = timedelta(seconds=CHUNK_STEPS * step)
        bounds = [start]
        while bounds[-1] + chunk < end:
            bounds.append(bounds[-1] + chunk)
        bounds.append(end)
        parts: dict[tuple[str, tuple[tuple[str, str], ...]], list[pd.Series]] = {}
        names: dict[tuple[str, tuple[tuple[str, str], ...]], SampleSeries] = {}
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            span = f"{round((hi - lo).total_seconds() * 1000) + 1}ms"
            query = f"{promql}[{span}]" if raw else f"({promql})[{span}:{step}s]"
            result = self._call(
                "custom_query",
                timeout_seconds=timeout_seconds,
                query=query,
                params={"time": f"{hi.timestamp():.3f}"},
            )
            if max_series is not None and len(result) > max_series:
                raise QueryTooCostly(f"{len(result)} series; at most {max_series} are assessed")
            lower = pd.Timestamp(lo)
            for item in result:
                if "values" not in item:  # a scalar or an instant vector: not a range answer
                    raise PrometheusQueryError(f"{promql!r} did not give a range of samples")
                series = to_sample_series(item, promql)
                values = series.values
                # The first chunk includes its start; later ones begin after the previous end.
                keep = (values.index >= lower) if i == 0 else (values.index > lower)
                values = values[keep & (values.index <= pd.Timestamp(hi))]
                key = (series.metric, tuple(sorted(series.labels.items())))
                names.setdefault(key, series)
                parts.setdefault(key, []).append(values)
        out = []
        for key, series in names.items():
            pieces = [p for p in parts[key] if len(p)]
            values = pd.concat(pieces) if len(pieces) > 1 else (pieces[0] if pieces else None)
            if values is None:
                continue  # the series had samples only in the extra millisecond
            out.append(SampleSeries(series.metric, series.labels, values, raw=raw))
        return out


def to_sample_series(item: dict, fallback_name: str) -> SampleSeries:
    labels = dict(item.get("metric", {}))
    name = labels.pop("__name__", fallback_name)
    raw = item.get("values", [])
    stamps = np.fromiter((float(t) for t, _ in raw), dtype=np.float64, count=len(raw))
    # Prometheus sends values as strings, "NaN" and "+Inf" included.
    values = np.fromiter((float(v) for _, v in raw), dtype=np.float64, count=len(raw))
    # Timestamps are whole milliseconds, sent as float seconds: back to exact milliseconds
    # (float seconds to nanoseconds leaves noise in the last digits).
    index = pd.to_datetime(np.rint(stamps * 1000).astype(np.int64), unit="ms", utc=True)
    return SampleSeries(metric=name, labels=labels, values=pd.Series(values, index=index))


def _reason(text: str) -> str:
    # The client's exception text is "HTTP Status Code N (b'{...json...}')"; keep the error.
    marker = '"error":"'
    if marker in text:
        error = text.split(marker, 1)[1].split('"}', 1)[0].split('","', 1)[0]
        return error.replace("\\", "")[:300]
    return text[:300]
