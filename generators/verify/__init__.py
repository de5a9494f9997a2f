"""Verification of generated exercises: math answers by safe evaluation (`math`), code against its own tests in a
sandboxed process (`sandbox`) whose tests are judged outside it on plain data (`judge`). Both return results with a
short reason, like `filters` steps' decide()."""
