#include "protocol/data_form.hpp"

namespace hush::data_form {

std::optional<bool> parse_bool(std::string_view value) {
    if (value == "1" || value == "true") {
        return true;
    }
    if (value == "0" || value == "false") {
        return false;
    }
    return std::nullopt;
}

pugi::xml_node add_field(pugi::xml_node form, std::string_view var, std::string_view type, std::string_view label) {
    auto f = form.append_child("field");
    f.append_attribute("var").set_value(std::string(var).c_str());
    if (!type.empty()) {
        f.append_attribute("type").set_value(std::string(type).c_str());
    }
    if (!label.empty()) {
        f.append_attribute("label").set_value(std::string(label).c_str());
    }
    return f;
}

void add_value(pugi::xml_node field, std::string_view value) {
    field.append_child("value").append_child(pugi::node_pcdata).set_value(std::string(value).c_str());
}

builder::builder(pugi::xml_node parent, std::string_view type, std::string_view form_type)
    : form_(parent.append_child("x")), offers_(type == "form") {
    form_.append_attribute("xmlns").set_value(ns.data());
    form_.append_attribute("type").set_value(std::string(type).c_str());
    add_value(add_field(form_, "FORM_TYPE", "hidden", {}), form_type);
}

pugi::xml_node builder::field(std::string_view var, std::string_view field_type, std::string_view label) {
    return add_field(form_, var, offers_ ? field_type : "", offers_ ? label : "");
}

void builder::text(std::string_view var, std::string_view label, const std::string& value,
                   std::string_view field_type) {
    auto f = field(var, field_type, label);
    if (!value.empty()) {
        add_value(f, value);
    }
}

void builder::boolean(std::string_view var, std::string_view label, bool value) {
    add_value(field(var, "boolean", label), value ? "1" : "0");
}

pugi::xml_node builder::list(std::string_view var, std::string_view label, std::string_view value,
                             std::initializer_list<std::pair<std::string_view, std::string_view>> choices) {
    auto f = field(var, "list-single", label);
    for (const auto& [choice, choice_label] : choices) {
        option(f, choice_label, choice);
    }
    add_value(f, value);
    return f;
}

void builder::option(pugi::xml_node field, std::string_view label, std::string_view value) {
    if (!offers_) {
        return;
    }
    auto o = field.append_child("option");
    o.append_attribute("label").set_value(std::string(label).c_str());
    add_value(o, value);
}

}  // namespace hush::data_form
