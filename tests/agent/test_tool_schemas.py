"""How tool schemas reach the model: pre_exec_msg first, strict mode, Python signatures."""

from agent.tools.python_tools import ToolImportError, load_python_tool
from agent.tools.schemas import drop_optional_nulls, function_tool, strict_compatible, strictify, with_pre_exec_msg

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "default": "celsius"},
        "request_heartbeat": {"type": "boolean"},
    },
    "required": ["city", "request_heartbeat"],
}


def test_pre_exec_msg_is_the_first_property_and_first_required() -> None:
    schema = with_pre_exec_msg(WEATHER)
    assert list(schema["properties"])[0] == "pre_exec_msg"
    assert schema["required"][0] == "pre_exec_msg"


def test_request_heartbeat_is_removed() -> None:
    schema = with_pre_exec_msg(WEATHER)
    assert "request_heartbeat" not in schema["properties"]
    assert "request_heartbeat" not in schema["required"]


def test_injection_does_not_modify_the_tools_own_schema() -> None:
    with_pre_exec_msg(WEATHER)
    assert "pre_exec_msg" not in WEATHER["properties"]


def test_strict_mode_requires_everything_and_makes_optional_fields_nullable() -> None:
    schema = strictify(with_pre_exec_msg(WEATHER))
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"pre_exec_msg", "city", "unit"}
    assert schema["properties"]["unit"]["type"] == ["string", "null"]
    assert "default" not in schema["properties"]["unit"]
    assert schema["properties"]["city"]["type"] == "string"


def test_strict_flag_is_set_only_when_asked() -> None:
    assert function_tool("w", "d", WEATHER, strict=True)["function"]["strict"] is True
    assert "strict" not in function_tool("w", "d", WEATHER, strict=False)["function"]


def test_python_tool_schema_comes_from_signature_and_docstring() -> None:
    tool = load_python_tool("tests.sample_tools:get_weather")
    assert tool.name == "get_weather"
    assert tool.description == "Look up the current weather."
    assert tool.parameters["required"] == ["city"]
    assert tool.parameters["properties"]["city"] == {"type": "string", "description": "The city to look up."}
    assert tool.parameters["properties"]["unit"]["default"] == "celsius"


def test_bad_tool_reference_is_a_clear_error() -> None:
    for reference, fragment in [("nocolon", "module:function"), ("no_such_module_x:f", "cannot import"), ("tests.sample_tools:nope", "has no")]:
        try:
            load_python_tool(reference)
        except ToolImportError as exc:
            assert fragment in str(exc)
        else:
            raise AssertionError(f"{reference} was accepted")


def test_a_schema_strict_mode_cannot_express_falls_back_to_non_strict_for_that_tool() -> None:
    free_form = {"type": "object", "properties": {"tags": {"type": "object", "additionalProperties": {"type": "integer"}}}}
    one_of = {"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}}
    for schema in (free_form, one_of):
        function = function_tool("t", "d", schema, strict=True)["function"]
        assert function["strict"] is False and "additionalProperties" not in function["parameters"]
    assert strict_compatible(with_pre_exec_msg(WEATHER))


def test_strict_mode_reaches_nested_models_and_optional_references() -> None:
    schema = {
        "type": "object",
        "properties": {"address": {"$ref": "#/$defs/Address"}},
        "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string", "enum": ["1", "2"]}}, "required": ["city"]}},
    }
    strict = function_tool("t", "d", schema, strict=True)["function"]["parameters"]
    assert strict["properties"]["address"] == {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]}
    address = strict["$defs"]["Address"]
    assert address["additionalProperties"] is False and address["required"] == ["city", "zip"]
    assert address["properties"]["zip"] == {"type": ["string", "null"], "enum": ["1", "2", None]}


def test_strict_mode_nulls_for_optional_fields_mean_not_given() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}, "note": {"type": ["string", "null"]}, "where": {"type": "object", "properties": {"floor": {"type": "integer"}}}},
        "required": ["city"],
    }
    arguments = {"city": "Oslo", "unit": None, "note": None, "where": {"floor": None}}
    assert drop_optional_nulls(arguments, schema) == {"city": "Oslo", "note": None, "where": {}}
