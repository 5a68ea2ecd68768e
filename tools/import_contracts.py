"""An import-linter contract type for names that must not be imported, not just modules.

`from flask import request` imports the module `flask`, which services may use (for
`current_app`); what they must not touch is the request context. This contract reads the
import lines grimp records and fails on any that names a forbidden attribute.
"""

from __future__ import annotations

import re

from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class ForbiddenNamesContract(Contract):
    """Modules matching `source_modules` never import `forbidden_names` from `module`.

    Configuration:
        source_modules: module expressions (wildcards allowed), e.g. webapp.services.**
        module: the module the names live in, e.g. flask
        forbidden_names: e.g. request, g, session
    """

    type_name = "forbidden_names"

    source_modules = fields.ListField(subfield=fields.StringField())
    module = fields.StringField()
    forbidden_names = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        expressions = [str(m) for m in self.source_modules]  # type: ignore[attr-defined]
        target = str(self.module)
        names = {str(n) for n in self.forbidden_names}  # type: ignore[attr-defined]
        pattern = re.compile(rf"^\s*from\s+{re.escape(target)}\s+import\s+\(?(?P<names>[^)#]*)")
        violations: list[str] = []
        for importer in sorted(graph.find_modules_that_directly_import(target)):
            if not any(_matches(expr, importer) for expr in expressions):
                continue
            for detail in graph.get_import_details(importer=importer, imported=target):
                match = pattern.match(detail["line_contents"])
                if not match:
                    continue
                imported = {part.split(" as ")[0].strip() for part in match["names"].split(",")}
                for name in sorted(imported & names):
                    violations.append(f"{importer}:{detail['line_number']} imports {target}.{name}")
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        from importlinter.application import output

        for line in check.metadata["violations"]:
            output.print_error(line, bold=False)
            output.new_line()


def _matches(expression: str, module: str) -> bool:
    regex = "^" + re.escape(expression).replace(r"\*\*", ".+").replace(r"\*", "[^.]+") + "$"
    return module == expression or re.match(regex, module) is not None
