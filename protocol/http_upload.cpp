#include "protocol/http_upload.hpp"

#include <array>
#include <charconv>

#include "protocol/ascii.hpp"

namespace hush::http_upload {

namespace {

std::optional<std::uint64_t> parse_size(std::string_view v) {
    std::uint64_t out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size()) {
        return std::nullopt;
    }
    return out;
}

bool in_namespace(pugi::xml_node node, std::string_view name) {
    return node && std::string_view(node.name()) == name && std::string_view(node.attribute("xmlns").value()) == ns;
}

pugi::xml_node append(pugi::xml_node parent, const char* name) {
    auto node = parent.append_child(name);
    node.append_attribute("xmlns").set_value(std::string(ns).c_str());
    return node;
}

}  // namespace

bool allowed_header(std::string_view name) {
    constexpr std::array<std::string_view, 3> allowed{"authorization", "cookie", "expires"};
    const std::string lower = ascii_lower(name);
    for (const auto a : allowed) {
        if (lower == a) {
            return true;
        }
    }
    return false;
}

std::optional<slot_request> parse_request(pugi::xml_node request) {
    if (!in_namespace(request, "request")) {
        return std::nullopt;
    }
    const std::string_view filename = request.attribute("filename").value();
    const auto size = parse_size(request.attribute("size").value());
    if (filename.empty() || !size) {
        return std::nullopt;
    }
    return slot_request{std::string(filename), *size, request.attribute("content-type").value()};
}

pugi::xml_node write_request(pugi::xml_node parent, const slot_request& r) {
    auto node = append(parent, "request");
    node.append_attribute("filename").set_value(r.filename.c_str());
    node.append_attribute("size").set_value(std::to_string(r.size).c_str());
    if (!r.content_type.empty()) {
        node.append_attribute("content-type").set_value(r.content_type.c_str());
    }
    return node;
}

std::optional<slot> parse_slot(pugi::xml_node node) {
    if (!in_namespace(node, "slot")) {
        return std::nullopt;
    }
    const auto put = node.child("put");
    const auto get = node.child("get");
    slot s{put.attribute("url").value(), {}, get.attribute("url").value()};
    if (s.put_url.empty() || s.get_url.empty()) {
        return std::nullopt;
    }
    for (auto h : put.children("header")) {
        header one{h.attribute("name").value(), h.text().get()};
        if (allowed_header(one.name) && one.value.find_first_of("\r\n") == std::string::npos) {
            s.put_headers.push_back(std::move(one));
        }
    }
    return s;
}

pugi::xml_node write_slot(pugi::xml_node parent, const slot& s) {
    auto node = append(parent, "slot");
    auto put = node.append_child("put");
    put.append_attribute("url").set_value(s.put_url.c_str());
    for (const auto& h : s.put_headers) {
        auto one = put.append_child("header");
        one.append_attribute("name").set_value(h.name.c_str());
        one.text().set(h.value.c_str());
    }
    node.append_child("get").append_attribute("url").set_value(s.get_url.c_str());
    return node;
}

std::optional<std::uint64_t> parse_file_too_large(pugi::xml_node error) {
    for (auto child : error.children("file-too-large")) {
        if (in_namespace(child, "file-too-large")) {
            return parse_size(child.child("max-file-size").text().get());
        }
    }
    return std::nullopt;
}

pugi::xml_node write_file_too_large(pugi::xml_node error, std::uint64_t max_file_size) {
    auto node = append(error, "file-too-large");
    node.append_child("max-file-size").text().set(std::to_string(max_file_size).c_str());
    return node;
}

}  // namespace hush::http_upload
