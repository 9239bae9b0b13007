from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ecko.cli import CommandError
from ecko.cli.loading import Target, asgi_problem, is_asgi_app, load_app, parse_target
from tests.cli.conftest import WriteModule

ASGI_APP = """\
async def app(scope, receive, send):
    pass
"""


def load(text: str) -> object:
    return load_app(parse_target(text))


def failure(text: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        load(text)
    return caught.value


def test_module_and_attribute_are_split_at_the_colon(project: Path) -> None:
    assert parse_target("pkg.web:api") == Target("pkg.web:api", "pkg.web", "api")


def test_attribute_defaults_to_app(project: Path) -> None:
    target = parse_target("main")

    assert (target.module, target.attribute, target.import_string) == ("main", "app", "main:app")


def test_dotted_attribute_is_kept(project: Path) -> None:
    assert parse_target("main:holder.app").attribute == "holder.app"


@pytest.mark.parametrize("text", ["", ":app", "app:", "a:b:c", "my-app:app", "app:1x", "class:app"])
def test_malformed_target_says_what_is_expected(project: Path, text: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_target(text)

    assert (
        caught.value.message
        == f"invalid target {text!r}: expected 'module:attribute', e.g. app:app"
    )
    assert caught.value.exit_code == 2


def test_path_without_py_suffix_is_refused_with_both_forms(project: Path) -> None:
    with pytest.raises(CommandError) as caught:
        parse_target("src/app:app")

    assert "a file path must end in .py (e.g. src/app.py:app)" in caught.value.message


def test_file_under_the_current_directory_becomes_a_dotted_module(
    write_module: WriteModule,
) -> None:
    path = write_module("src/web/main.py", ASGI_APP)

    target = parse_target("src/web/main.py:app")

    assert (target.module, target.app_dir, target.file) == ("src.web.main", None, path)


def test_file_path_alone_defaults_to_app(write_module: WriteModule) -> None:
    write_module("main.py", ASGI_APP)

    assert parse_target("main.py").import_string == "main:app"


def test_package_init_file_names_the_package(write_module: WriteModule) -> None:
    write_module("shop/__init__.py", ASGI_APP)

    assert parse_target("shop/__init__.py").module == "shop"


def test_file_outside_importable_folders_gets_an_app_dir(write_module: WriteModule) -> None:
    path = write_module("my-project/server.py", ASGI_APP)

    target = parse_target("my-project/server.py:app")

    assert (target.module, target.app_dir) == ("server", str(path.parent))


def test_missing_file_is_reported_with_the_folder_searched(project: Path) -> None:
    with pytest.raises(CommandError) as caught:
        parse_target("nowhere/main.py:app")

    assert (
        caught.value.message
        == f"file 'nowhere/main.py' not found (looked in {project}); check the path"
    )


def test_file_name_that_is_not_a_module_name_is_refused_with_a_rename(
    write_module: WriteModule,
) -> None:
    write_module("odd/my-app.py", ASGI_APP)

    with pytest.raises(CommandError) as caught:
        parse_target("odd/my-app.py")

    assert (
        caught.value.message
        == "'my-app' is not a valid Python module name; rename it, e.g. to my_app.py"
    )


def test_module_is_imported_from_the_current_directory(write_module: WriteModule) -> None:
    write_module("main.py", ASGI_APP)
    sys.path[:] = [entry for entry in sys.path if entry not in ("", ".")]

    app = load("main:app")

    assert app is sys.modules["main"].app


def test_file_outside_the_current_directory_is_loaded_by_path(
    write_module: WriteModule, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module("my-project/server.py", ASGI_APP)
    (project / "elsewhere").mkdir()
    monkeypatch.chdir(project / "elsewhere")

    app = load("../my-project/server.py:app")

    assert app is sys.modules["server"].app


def test_dotted_attribute_is_followed(write_module: WriteModule) -> None:
    write_module(
        "main.py",
        """\
        class Holder:
            async def app(self, scope, receive, send):
                pass

        holder = Holder()
        """,
    )

    app = load("main:holder.app")

    assert app == sys.modules["main"].holder.app


def test_missing_module_names_it_and_the_current_directory(project: Path) -> None:
    error = failure("missing:app")

    assert error.message == (
        f"module 'missing' not found: there is no missing.py or missing/ package in {project} "
        "(the current directory is on the import path); run ecko from the folder that holds "
        "it, or give its path, e.g. path/to/missing.py:app"
    )
    assert error.exit_code == 2


def test_missing_submodule_names_the_package(write_module: WriteModule) -> None:
    write_module("shop/__init__.py", "")

    error = failure("shop.web:app")

    assert error.message == "module 'shop.web' not found: package 'shop' has no module 'web'"
    assert error.exit_code == 2


def test_module_raising_on_import_shows_the_exception_and_the_line(
    write_module: WriteModule,
) -> None:
    write_module(
        "main.py",
        """\
        settings = {}

        port = settings["port"]
        """,
    )

    error = failure("main:app")

    assert error.message == (
        "importing 'main' raised KeyError: 'port'\n"
        '  File "main.py", line 3, in <module>\n'
        '    port = settings["port"]'
    )
    assert error.exit_code == 1


def test_error_raised_in_a_library_also_shows_the_users_line(write_module: WriteModule) -> None:
    write_module(
        "main.py",
        """\
        import json

        config = json.loads("{not json")
        """,
    )

    error = failure("main:app")

    lines = error.message.splitlines()
    assert lines[0].startswith("importing 'main' raised JSONDecodeError: Expecting property name")
    assert lines[1:3] == [
        '  File "main.py", line 3, in <module>',
        '    config = json.loads("{not json")',
    ]
    assert lines[3].startswith(f'  File "{Path(json.__file__).parent}')
    assert len(lines) == 5


def test_missing_dependency_of_the_module_is_an_import_error_not_a_missing_module(
    write_module: WriteModule,
) -> None:
    write_module("main.py", "import not_installed_anywhere\n")

    error = failure("main:app")

    assert error.message.splitlines() == [
        "importing 'main' raised ModuleNotFoundError: No module named 'not_installed_anywhere'",
        '  File "main.py", line 1, in <module>',
        "    import not_installed_anywhere",
    ]
    assert error.exit_code == 1


def test_syntax_error_shows_the_file_line_and_text(write_module: WriteModule) -> None:
    write_module("main.py", "app = = 1\n")

    error = failure("main:app")

    assert error.message == (
        "importing 'main' raised SyntaxError: invalid syntax\n"
        '  File "main.py", line 1\n'
        "    app = = 1"
    )
    assert error.exit_code == 1


def test_missing_attribute_lists_the_apps_the_module_defines(write_module: WriteModule) -> None:
    write_module(
        "main.py",
        """\
        from ecko import Ecko

        app = Ecko()
        settings = {"debug": True}

        async def admin(scope, receive, send):
            pass

        def helper():
            pass
        """,
    )

    error = failure("main:api")

    assert error.message == "module 'main' has no attribute 'api'; it defines: app, admin"
    assert error.exit_code == 2


def test_missing_attribute_in_a_module_without_apps_says_how_to_make_one(
    write_module: WriteModule,
) -> None:
    write_module("main.py", "value = 1\n")

    error = failure("main:app")

    assert error.message == (
        "module 'main' has no attribute 'app', and the module defines no Ecko or ASGI app; "
        "create one, e.g. app = Ecko()"
    )


def test_missing_nested_attribute_names_its_owner(write_module: WriteModule) -> None:
    write_module("main.py", "class Holder:\n    pass\n\nholder = Holder()\n" + ASGI_APP)

    error = failure("main:holder.api")

    assert error.message == "'main:holder' has no attribute 'api'; it defines: app"


def test_value_that_is_not_callable_is_refused(write_module: WriteModule) -> None:
    write_module("main.py", ASGI_APP + "config = {'debug': True}\n")

    error = failure("main:config")

    assert error.message == "'main:config' is a dict, not an ASGI app; the module defines: app"
    assert error.exit_code == 2


def test_class_is_refused_with_a_hint_to_use_an_instance(write_module: WriteModule) -> None:
    write_module("main.py", "from ecko import Ecko\n")

    error = failure("main:Ecko")

    assert error.message == (
        "'main:Ecko' is a class (point it at an instance instead), not an ASGI app; "
        "point it at your app, e.g. app = Ecko()"
    )


def test_handler_function_is_refused(write_module: WriteModule) -> None:
    write_module(
        "main.py",
        """\
        from ecko import Ecko

        app = Ecko()

        @app.get("/")
        def home() -> dict[str, str]:
            return {}
        """,
    )

    error = failure("main:home")

    assert (
        error.message
        == "'main:home' is a regular function, not an ASGI app; the module defines: app"
    )


def test_async_function_with_the_wrong_arguments_is_refused(write_module: WriteModule) -> None:
    write_module("main.py", "async def home():\n    pass\n")

    error = failure("main:home")

    assert error.message.startswith(
        "'main:home' is an async function that does not take (scope, receive, send), "
        "not an ASGI app"
    )


def test_file_hidden_by_an_already_imported_module_is_refused(
    write_module: WriteModule, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `json` is imported already, so a json.py outside the current directory cannot load.
    write_module("my-project/json.py", ASGI_APP)
    (project / "elsewhere").mkdir()
    monkeypatch.chdir(project / "elsewhere")

    error = failure("../my-project/json.py:app")

    assert error.message.startswith("'json.py' is hidden by the module 'json' already loaded from ")
    assert error.message.endswith("; rename the file")


def test_ecko_app_and_async_callables_look_like_asgi_apps() -> None:
    from ecko import Ecko

    class Middleware:
        async def __call__(self, scope: object, receive: object, send: object) -> None:
            pass

    async def raw(scope: object, receive: object, send: object) -> None:
        pass

    assert [is_asgi_app(value) for value in (Ecko(), Middleware(), raw)] == [True, True, True]
    assert [asgi_problem(value) for value in (Ecko(), Middleware(), raw)] == [None, None, None]


@pytest.mark.parametrize(
    ("value", "problem"),
    [(3, "an int"), ("app", "a str"), (None, "a NoneType"), (sys, "a module"), (len, None)],
)
def test_asgi_problem_describes_the_value(value: object, problem: str | None) -> None:
    assert asgi_problem(value) == problem


FACTORY = """\
from ecko import Ecko


def create_app():
    app = Ecko()
    app.state.made_by = "factory"
    return app


def broken_factory():
    return {"not": "an app"}


def failing_factory():
    raise RuntimeError("no database")
"""


def test_factory_with_parentheses_is_called(write_module: WriteModule) -> None:
    write_module("main.py", FACTORY)

    target = parse_target("main:create_app()")
    app = load_app(target)

    assert (target.attribute, target.factory, target.import_string) == (
        "create_app",
        True,
        "main:create_app",
    )
    assert app.state.made_by == "factory"  # type: ignore[attr-defined]


def test_factory_flag_marks_a_file_target_too(write_module: WriteModule) -> None:
    write_module("main.py", FACTORY)

    assert parse_target("main.py:create_app", factory=True).factory


def test_factory_returning_something_else_is_refused(write_module: WriteModule) -> None:
    write_module("main.py", FACTORY)

    assert failure("main:broken_factory()").message == (
        "'main:broken_factory()' returned a dict, not an ASGI app; "
        "make it return the app, e.g. return Ecko()"
    )


def test_factory_raising_shows_the_users_line(write_module: WriteModule) -> None:
    write_module("main.py", FACTORY)

    error = failure("main:failing_factory()")

    assert error.exit_code == 1
    assert error.message == (
        "calling main:failing_factory() raised RuntimeError: no database\n"
        '  File "main.py", line 15, in failing_factory\n'
        '    raise RuntimeError("no database")'
    )


def test_function_without_parentheses_suggests_the_factory_form(
    write_module: WriteModule,
) -> None:
    write_module("main.py", "def create_app():\n    pass\n")

    assert failure("main:create_app").message == (
        "'main:create_app' is a regular function, not an ASGI app; "
        "if it builds the app, run it as a factory: main:create_app() or --factory"
    )


def test_module_alone_without_app_points_at_its_factory(write_module: WriteModule) -> None:
    write_module("main.py", "def create_app():\n    pass\n")

    assert failure("main").message == (
        "module 'main' has no attribute 'app'; it defines the factory create_app(): "
        "ecko run main:create_app()"
    )


def test_non_callable_factory_is_refused(write_module: WriteModule) -> None:
    write_module("main.py", "app = 3\n")

    assert failure("main:app()").message.startswith("'main:app' is not callable")


def test_error_in_a_module_the_app_imports_shows_the_whole_user_traceback(
    write_module: WriteModule,
) -> None:
    write_module("main.py", "import helpers\n\napp = helpers.make()\n")
    write_module("helpers.py", "import json\n\n\ndef make():\n    return json.loads('{bad')\n")

    lines = failure("main:app").message.splitlines()

    assert lines[0].startswith("importing 'main' raised JSONDecodeError: Expecting property name")
    assert lines[1:5] == [
        '  File "main.py", line 3, in <module>',
        "    app = helpers.make()",
        '  File "helpers.py", line 5, in make',
        "    return json.loads('{bad')",
    ]
    assert "json" in lines[5]
    assert len(lines) == 7
