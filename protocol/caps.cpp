#include "protocol/caps.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <set>

#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"

namespace hush::caps {

namespace {

constexpr std::string_view data_forms_ns = "jabber:x:data";

// A child carries its own xmlns only where its namespace differs from its parent's (how the stream parser and
// the serializer write them).
std::string_view namespace_of(pugi::xml_node node, std::string_view inherited) {
    if (auto a = node.attribute("xmlns")) {
        return a.value();
    }
    return inherited;
}

// The character data of an element, split or not into several text nodes.
std::string text_of(pugi::xml_node node) {
    std::string text;
    for (auto c : node.children()) {
        if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
            text += c.value();
        }
    }
    return text;
}

struct read_form {
    bool has_form_type = false;
    bool hidden = false;
    bool conflicting = false;  // FORM_TYPE with differing values
    form value;
};

read_form read_extended_form(pugi::xml_node x) {
    read_form out;
    for (auto field : x.children()) {
        if (field.type() != pugi::node_element || std::string_view(field.name()) != "field" ||
            namespace_of(field, data_forms_ns) != data_forms_ns) {
            continue;
        }
        std::vector<std::string> values;
        for (auto v : field.children()) {
            if (v.type() == pugi::node_element && std::string_view(v.name()) == "value" &&
                namespace_of(v, data_forms_ns) == data_forms_ns) {
                values.push_back(text_of(v));
            }
        }
        const std::string_view var = field.attribute("var").value();
        if (var == "FORM_TYPE") {
            if (values.empty()) {
                continue;
            }
            out.has_form_type = true;
            out.hidden = std::string_view(field.attribute("type").value()) == "hidden";
            out.conflicting = std::any_of(values.begin(), values.end(), [&](const auto& v) { return v != values[0]; });
            out.value.form_type = values[0];
            continue;
        }
        out.value.fields.push_back({std::string(var), std::move(values)});
    }
    return out;
}

std::string identity_string(const identity& i) {
    return i.category + "/" + i.type + "/" + i.lang + "/" + i.name;
}

const EVP_MD* digest_of(std::string_view algorithm) {
    if (algorithm == "sha-1") {
        return EVP_sha1();
    }
    if (algorithm == "sha-224") {
        return EVP_sha224();
    }
    if (algorithm == "sha-256") {
        return EVP_sha256();
    }
    if (algorithm == "sha-384") {
        return EVP_sha384();
    }
    if (algorithm == "sha-512") {
        return EVP_sha512();
    }
    return nullptr;
}

}  // namespace

std::optional<announcement> parse(const stanza& presence) {
    const auto c = presence.child("c", caps_ns);
    if (!c) {
        return std::nullopt;
    }
    announcement a{c.attribute("hash").value(), c.attribute("node").value(), c.attribute("ver").value()};
    if (a.node.empty() || a.ver.empty()) {
        return std::nullopt;
    }
    return a;
}

expected<disco_info, std::string> read_disco_info(pugi::xml_node query) {
    if (!query || std::string_view(query.name()) != "query" || namespace_of(query, {}) != ns::disco_info) {
        return unexpected(std::string("not a disco#info query"));
    }
    disco_info info;
    std::set<std::string> form_types;
    for (auto c : query.children()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        const std::string_view name = c.name();
        const std::string_view child_ns = namespace_of(c, ns::disco_info);
        if (child_ns == ns::disco_info && name == "identity") {
            info.identities.push_back({c.attribute("category").value(), c.attribute("type").value(),
                                       c.attribute("xml:lang").value(), c.attribute("name").value()});
        } else if (child_ns == ns::disco_info && name == "feature") {
            info.features.emplace_back(c.attribute("var").value());
        } else if (child_ns == data_forms_ns && name == "x") {
            auto f = read_extended_form(c);
            if (!f.has_form_type) {
                continue;  // not an extended information form (XEP-0128 needs FORM_TYPE)
            }
            if (f.conflicting) {
                return unexpected(std::string("a FORM_TYPE with differing values"));
            }
            if (!form_types.insert(f.value.form_type).second) {
                return unexpected("two forms of FORM_TYPE " + f.value.form_type);
            }
            if (f.hidden) {
                info.forms.push_back(std::move(f.value));
            }
        }
    }
    std::vector<std::string> ids;
    for (const auto& i : info.identities) {
        ids.push_back(identity_string(i));
    }
    std::sort(ids.begin(), ids.end());
    if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
        return unexpected(std::string("a duplicate identity"));
    }
    auto features = info.features;
    std::sort(features.begin(), features.end());
    if (std::adjacent_find(features.begin(), features.end()) != features.end()) {
        return unexpected(std::string("a duplicate feature"));
    }
    return info;
}

std::string verification_string(const disco_info& info) {
    std::vector<std::string> ids;
    for (const auto& i : info.identities) {
        ids.push_back(identity_string(i));
    }
    std::sort(ids.begin(), ids.end());
    auto features = info.features;
    std::sort(features.begin(), features.end());
    std::vector<const form*> forms;
    for (const auto& f : info.forms) {
        forms.push_back(&f);
    }
    std::sort(forms.begin(), forms.end(), [](const form* a, const form* b) { return a->form_type < b->form_type; });

    std::string s;
    for (const auto& i : ids) {
        s += i + "<";
    }
    for (const auto& f : features) {
        s += f + "<";
    }
    for (const form* f : forms) {
        s += f->form_type + "<";
        auto fields = f->fields;
        std::sort(fields.begin(), fields.end(), [](const auto& a, const auto& b) { return a.var < b.var; });
        for (auto& field : fields) {
            s += field.var + "<";
            std::sort(field.values.begin(), field.values.end());
            for (const auto& v : field.values) {
                s += v + "<";
            }
        }
    }
    return s;
}

bool known_algorithm(std::string_view algorithm) {
    return digest_of(algorithm) != nullptr;
}

std::optional<std::string> ver(std::string_view algorithm, const disco_info& info) {
    const EVP_MD* md = digest_of(algorithm);
    if (md == nullptr) {
        return std::nullopt;
    }
    const std::string input = verification_string(info);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(input.data(), input.size(), digest, &length, md, nullptr) != 1) {
        return std::nullopt;
    }
    return sasl::base64_encode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace hush::caps
