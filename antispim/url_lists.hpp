#pragma once
// URL and domain lists for the content policy (the lists operators exchange: one domain or URL per line, `#`
// comments): a message linking to a listed domain, or any subdomain of one, scores. Loaded at start-up and again
// on SIGHUP; a list that cannot be read keeps the previous one in use, and the error names file:line.
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "protocol/expected.hpp"

namespace hush::antispim {

// The domains of one or more list files.
struct url_list_set {
    std::unordered_set<std::string> domains;
    std::size_t files = 0;
};

// Reads the files; the error names the file (and line) that is wrong. At most `max_domains` domains in all.
hush::expected<url_list_set, std::string> load_url_lists(const std::vector<std::string>& files,
                                                         std::size_t max_domains = 1000000);

// The hosts the links in `text` point to (http://, https://, www.), lower-cased, each once.
std::vector<std::string> linked_hosts(std::string_view text);

class url_lists {
public:
    explicit url_lists(std::vector<std::string> files) : files_(std::move(files)) {}

    // (Re)loads every file; on error the lists in use stay and the error is returned.
    hush::expected<std::size_t, std::string> reload();
    // The listed domains `text` links to (the listed domain, not the host: "spam.example" for
    // "www.spam.example").
    std::vector<std::string> listed_in(std::string_view text) const;
    bool empty() const { return files_.empty(); }

private:
    std::vector<std::string> files_;
    mutable std::mutex mutex_;
    std::shared_ptr<const url_list_set> current_ = std::make_shared<url_list_set>();
};

}  // namespace hush::antispim
