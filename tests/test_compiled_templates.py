"""The shipped HTML pages compile once per process: each report builds a fresh environment."""

from __future__ import annotations

import pytest

from kpitree.templating.html import html_environment


@pytest.mark.parametrize("page", ["report/variance.html.j2", "report/calibration.html.j2"])
def test_a_page_compiled_once_is_not_parsed_again_by_a_new_environment(
    page: str, template_parses: list[str | None]
) -> None:
    parsed = template_parses
    first = html_environment().get_template(page)  # parsed here unless this process already did
    before = len(parsed)
    again = html_environment().get_template(page)
    assert len(parsed) == before, "the second environment loads the compiled page"
    assert set(parsed) <= {page}
    assert again.name == first.name == page
