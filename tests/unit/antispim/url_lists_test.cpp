// URL and domain lists: the formats operators exchange, errors that name file:line, subdomains matching.
#include <doctest.h>

#include <fstream>

#include "antispim/url_lists.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using namespace hush::antispim;

namespace {
std::string write(const test::temp_dir& dir, const std::string& name, const std::string& text) {
    const auto path = (dir.path() / name).string();
    std::ofstream(path) << text;
    return path;
}
}  // namespace

TEST_CASE("links in a text: hosts lower-cased, www. dropped, each once") {
    const auto hosts = linked_hosts("see https://WWW.Spam.Example/a and http://spam.example/b or www.x.test/");
    CHECK(hosts == std::vector<std::string>{"spam.example", "x.test"});
    CHECK(linked_hosts("no links here, just text.").empty());
    CHECK(linked_hosts("email me at joe@www.notalink").empty());  // www. inside a word is no link
}

TEST_CASE("a list file: domains and URLs, comments, blank lines; a listed domain matches its subdomains") {
    test::temp_dir dir;
    const auto file = write(dir, "list.txt",
                            "# exchanged list\n\nbad.example\nhttps://Phish.Test/login   # a URL\n");
    url_lists lists({file});
    REQUIRE(lists.reload().value() == 2);
    CHECK(lists.listed_in("visit https://promo.bad.example/offer now") == std::vector<std::string>{"bad.example"});
    CHECK(lists.listed_in("log in at http://phish.test/x") == std::vector<std::string>{"phish.test"});
    CHECK(lists.listed_in("https://notbad.example is fine").empty());
    CHECK(lists.listed_in("bad.example without a link is no link").empty());
}

TEST_CASE("a broken list names file:line and the lists in use stay") {
    test::temp_dir dir;
    const auto file = write(dir, "list.txt", "bad.example\n");
    url_lists lists({file});
    REQUIRE(lists.reload());
    write(dir, "list.txt", "ok.example\n!!!\n");
    const auto reloaded = lists.reload();
    REQUIRE_FALSE(reloaded);
    CHECK(reloaded.error() == file + ":2: '!!!' is no domain or URL");
    CHECK(lists.listed_in("https://bad.example/") == std::vector<std::string>{"bad.example"});
    CHECK(load_url_lists({(dir.path() / "missing.txt").string()}).error() ==
          (dir.path() / "missing.txt").string() + ": cannot be read");
}
