#pragma once
// XEP-0004 data forms as configuration payloads build them (pubsub#node_config, muc#roomconfig): one builder that
// writes a form an owner fills (type "form": field types, labels, options) or the same fields as a submission
// (type "submit": values only — how the configuration is stored and parsed back).
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <pugixml.hpp>

namespace hush::data_form {

inline constexpr std::string_view ns = "jabber:x:data";

// A boolean field's value: "1"/"true" or "0"/"false" (XEP-0004 §3.3); nullopt for anything else.
std::optional<bool> parse_bool(std::string_view value);

pugi::xml_node add_field(pugi::xml_node form, std::string_view var, std::string_view type, std::string_view label);
void add_value(pugi::xml_node field, std::string_view value);

class builder {
public:
    // Appends <x xmlns='jabber:x:data' type=TYPE/> to `parent` with the hidden FORM_TYPE field.
    builder(pugi::xml_node parent, std::string_view type, std::string_view form_type);

    pugi::xml_node form() const { return form_; }
    bool offers() const { return offers_; }  // type "form": types, labels and options are written

    pugi::xml_node field(std::string_view var, std::string_view field_type, std::string_view label);
    // An unset text field has no value at all.
    void text(std::string_view var, std::string_view label, const std::string& value,
              std::string_view field_type = "text-single");
    void boolean(std::string_view var, std::string_view label, bool value);  // "1" / "0"
    pugi::xml_node list(std::string_view var, std::string_view label, std::string_view value,
                        std::initializer_list<std::pair<std::string_view, std::string_view>> choices);
    // One <option label><value/></option> (written only when offering).
    void option(pugi::xml_node field, std::string_view label, std::string_view value);

private:
    pugi::xml_node form_;
    bool offers_ = false;
};

}  // namespace hush::data_form
