"""One test world for every certdesk test (STYLE habit 15): the desk and its fixtures, one CLI
driver, one CSR factory, one refusal and problem assertion, mail, the console and live
processes. See README.md here for what each module holds and which old helper it replaces.

``tests/`` is on ``sys.path`` (pytest puts the rootdir conftest's folder there), so tests
import ``from world.desk import Desk`` the way they import ``from conftest import …``.
"""
