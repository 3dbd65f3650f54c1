#include "antispim/url_lists.hpp"
#include "protocol/ascii.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>

namespace hush::antispim {

namespace {

bool host_byte(unsigned char c) { return std::isalnum(c) != 0 || c == '.' || c == '-' || c >= 0x80; }

// "https://Spam.Example/x" or "spam.example" -> "spam.example"; empty when the line names no domain.
std::string domain_of(std::string_view line) {
    for (std::string_view scheme : {"https://", "http://"}) {
        if (ascii_lower(line.substr(0, scheme.size())) == scheme) {
            line.remove_prefix(scheme.size());
        }
    }
    std::size_t end = 0;
    while (end < line.size() && host_byte(static_cast<unsigned char>(line[end]))) {
        ++end;
    }
    std::string host = ascii_lower(line.substr(0, end));
    while (!host.empty() && host.back() == '.') {
        host.pop_back();
    }
    if (host.starts_with("www.")) {
        host.erase(0, 4);
    }
    return host.find('.') == std::string::npos || host.front() == '.' ? std::string() : host;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

hush::expected<url_list_set, std::string> load_url_lists(const std::vector<std::string>& files,
                                                         std::size_t max_domains) {
    url_list_set out;
    for (const auto& file : files) {
        std::ifstream in(file);
        if (!in) {
            return hush::unexpected<std::string>(file + ": cannot be read");
        }
        std::string line;
        std::size_t number = 0;
        while (std::getline(in, line)) {
            ++number;
            const std::string_view text = trim(std::string_view(line).substr(0, line.find('#')));
            if (text.empty()) {
                continue;
            }
            const std::string domain = domain_of(text);
            if (domain.empty()) {
                return hush::unexpected<std::string>(file + ":" + std::to_string(number) + ": '" + std::string(text) +
                                                     "' is no domain or URL");
            }
            if (out.domains.size() >= max_domains) {
                return hush::unexpected<std::string>(file + ":" + std::to_string(number) + ": more than " +
                                                     std::to_string(max_domains) + " domains in all");
            }
            out.domains.insert(domain);
        }
        ++out.files;
    }
    return out;
}

std::vector<std::string> linked_hosts(std::string_view text) {
    std::vector<std::string> out;
    const std::string lowered = ascii_lower(text);
    std::size_t i = 0;
    while (i < lowered.size()) {
        const std::string_view rest = std::string_view(lowered).substr(i);
        const bool link = rest.starts_with("http://") || rest.starts_with("https://") || rest.starts_with("www.");
        if (!link || (i > 0 && host_byte(static_cast<unsigned char>(lowered[i - 1])))) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < lowered.size() && std::isspace(static_cast<unsigned char>(lowered[end])) == 0) {
            ++end;
        }
        if (std::string host = domain_of(std::string_view(lowered).substr(i, end - i)); !host.empty() &&
            std::find(out.begin(), out.end(), host) == out.end()) {
            out.push_back(std::move(host));
        }
        i = std::max(end, i + 1);
    }
    return out;
}

hush::expected<std::size_t, std::string> url_lists::reload() {
    auto loaded = load_url_lists(files_);
    if (!loaded) {
        return hush::unexpected<std::string>(loaded.error());
    }
    const std::size_t count = loaded->domains.size();
    auto fresh = std::make_shared<const url_list_set>(std::move(*loaded));
    std::lock_guard lock(mutex_);
    current_ = std::move(fresh);
    return count;
}

std::vector<std::string> url_lists::listed_in(std::string_view text) const {
    std::shared_ptr<const url_list_set> lists;
    {
        std::lock_guard lock(mutex_);
        lists = current_;
    }
    std::vector<std::string> out;
    if (lists->domains.empty()) {
        return out;
    }
    for (const auto& host : linked_hosts(text)) {
        // The host, then each parent domain with a dot left in it.
        for (std::size_t dot = std::string::npos;;) {
            const std::string candidate = dot == std::string::npos ? host : host.substr(dot + 1);
            if (candidate.find('.') == std::string::npos) {
                break;
            }
            if (lists->domains.contains(candidate)) {
                if (std::find(out.begin(), out.end(), candidate) == out.end()) {
                    out.push_back(candidate);
                }
                break;
            }
            dot = host.find('.', dot == std::string::npos ? 0 : dot + 1);
            if (dot == std::string::npos) {
                break;
            }
        }
    }
    return out;
}

}  // namespace hush::antispim
