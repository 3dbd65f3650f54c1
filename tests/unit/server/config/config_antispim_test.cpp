// The [antispim] section of hush.toml: the chain, local trust and held caps, the default challenge and its texts,
// imports, greylist, rate, consensus, outbound, publish, RTBL sources.
#include "server/config/config.hpp"
#include "tests/unit/server/config/config_test_support.hpp"

#include <doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using hush::config;
using namespace hush::config_testing;

TEST_CASE("the challenge texts commented in conf/hush.toml are the built-in defaults") {
    std::ifstream in(fs::path(HUSH_SOURCE_DIR) / "conf" / "hush.toml");
    std::string line;
    std::string block;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line == "# [antispim.texts]") {
            inside = true;
        } else if (inside && line.rfind("# Other languages", 0) == 0) {
            break;
        }
        if (inside) {
            block += line.substr(2) + "\n";
        }
    }
    REQUIRE_FALSE(block.empty());
    const config c = load_ok(block);
    CHECK(c.antispim.wording.defaults == hush::antispim::challenge_texts{});
    CHECK(c.antispim.wording.default_language == "en");
}

TEST_CASE("antispim: known policies, dry_run only from the chain") {
    CHECK(load_error("[antispim]\nchain = [\"pass\", \"rbl\"]\n") ==
          "2:18: antispim.chain[1]: unknown policy \"rbl\" (available: \"pass\", \"blocklist\", \"dos\", \"greylist\", \"rate\", \"content\", \"challenge\")");
    CHECK(load_error("[antispim]\nchain = [\"pass\", \"pass\"]\n") ==
          "2:18: antispim.chain[1]: policy \"pass\" is listed twice");
    CHECK(load_error("[antispim]\nchain = []\ndry_run = [\"pass\"]\n") ==
          "3:12: antispim.dry_run[0]: \"pass\" is not in antispim.chain");

    const config c = load_ok("[antispim]\nchain = [\"pass\"]\ndry_run = [\"pass\"]\n");
    CHECK(c.antispim.dry_run == std::vector<std::string>{"pass"});
    CHECK(load_ok("[antispim]\nchain = []\n").antispim.chain.empty());
}

TEST_CASE("antispim: local trust, held caps, the sweeper; storage queue bounds") {
    const config c = load_ok(
        "[storage]\nmax_queued = 50\nqueue_timeout_seconds = 3\n"
        "[antispim]\ntrusted_after_hours = 0\ntrusted_min_contacts = 0\nmax_held_per_receiver = 5\n"
        "max_held_bytes_per_receiver = 0\nmax_held_total = 7\nstate_expiry_days = 0\ncontact_expiry_days = 30\n"
        "sweep_interval_seconds = 60\n");
    CHECK(c.storage.max_queued == 50);
    CHECK(c.storage.queue_timeout == std::chrono::seconds{3});
    const auto& a = c.antispim;
    CHECK(a.trusted_after == std::chrono::hours{0});
    CHECK(a.trusted_min_contacts == 0);
    CHECK(a.max_held_per_receiver == 5);
    CHECK(a.max_held_bytes_per_receiver == 0);
    CHECK(a.max_held_total == 7);
    CHECK(a.state_expiry == std::chrono::hours{0});
    CHECK(a.contact_expiry == std::chrono::hours{30 * 24});
    CHECK(a.sweep_interval == std::chrono::seconds{60});
    CHECK(load_error("[antispim]\nmax_held_total = -1\n").find("antispim.max_held_total") != std::string::npos);
}

TEST_CASE("antispim: the default challenge and trust of local users") {
    const config c = load_ok(
        "[antispim]\nchain = [\"challenge\"]\ntrust_local_users = false\nmax_held_per_sender = 3\nheld_expiry_hours = 2\n"
        "[antispim.challenge]\nstrangers = \"drop\"\nquestion = \"2 + 2?\"\ngood_answers = [\"4\", \"four\"]\n"
        "wrong_answers = [\"5\"]\nmin_answer_seconds = 0\nmax_tries = 2\nlong_interval_minutes = 1\ngrowth = 2\n"
        "steps = 1\noffered = 2\n");
    const auto& a = c.antispim;
    CHECK_FALSE(a.trust_local_users);
    CHECK(a.max_held_per_sender == 3);
    CHECK(a.held_expiry == std::chrono::hours{2});
    CHECK(a.challenge.strangers == hush::antispim::stranger_mode::drop);
    CHECK(a.challenge.question == "2 + 2?");
    CHECK(a.challenge.good_answers == std::vector<std::string>{"4", "four"});
    CHECK(a.challenge.wrong_answers == std::vector<std::string>{"5"});
    CHECK(a.challenge.min_answer == std::chrono::seconds{0});
    CHECK(a.challenge.max_tries == 2);
    CHECK(a.challenge.long_interval == std::chrono::minutes{1});
    CHECK(a.challenge.growth == 2);
    CHECK(a.challenge.steps == 1);
    CHECK(a.challenge.offered == 2);
    CHECK(load_error("[antispim.challenge]\nwrong_answers = []\n") ==
          "2:17: antispim.challenge.wrong_answers: needs at least one answer (bots would just pick any)");
    CHECK(load_error("[antispim.challenge]\nstrangers = \"block\"\n") ==
          "2:13: antispim.challenge.strangers: must be one of \"challenge\", \"allow\", \"drop\" (got \"block\")");
}

TEST_CASE("antispim: the challenge's kind — a code by default, a question only with the admin's own") {
    const config plain = load_ok("[antispim.challenge]\nmin_answer_seconds = 2\n");
    CHECK(plain.antispim.challenge.kind == hush::antispim::challenge_kind::code);
    CHECK(plain.antispim.challenge.code_digits == 4);
    CHECK(plain.antispim.challenge.question.empty());  // no question ships: every installation would share it
    CHECK(load_ok("[antispim.challenge]\ncode_digits = 6\n").antispim.challenge.code_digits == 6);
    // A question configured without a kind (a config from before the kinds) is asked.
    const config asked = load_ok("[antispim.challenge]\nquestion = \"Our room?\"\ngood_answers = [\"den\"]\n"
                                 "wrong_answers = [\"hall\"]\n");
    CHECK(asked.antispim.challenge.kind == hush::antispim::challenge_kind::question);
    CHECK(load_ok("[antispim.challenge]\nkind = \"code\"\nquestion = \"Our room?\"\ngood_answers = [\"den\"]\n"
                  "wrong_answers = [\"hall\"]\n").antispim.challenge.kind == hush::antispim::challenge_kind::code);
    CHECK(load_error("[antispim.challenge]\nkind = \"question\"\nquestion = \"Our room?\"\n") ==
          "1:1: antispim.challenge.good_answers: is required with kind = \"question\" (your own question and its answers)");
    CHECK(load_error("[antispim.challenge]\nkind = \"riddle\"\n") ==
          "2:8: antispim.challenge.kind: must be one of \"code\", \"question\" (got \"riddle\")");
    CHECK(load_error("[antispim.challenge]\ncode_digits = 3\n").find("antispim.challenge.code_digits") !=
          std::string::npos);
    CHECK(load_error("[antispim.texts]\ndigits = \"zero one two\"\n") ==
          "2:10: antispim.texts.digits: must be the ten words for 0 to 9, separated by spaces");
}

TEST_CASE("antispim texts: defaults replaced, other languages fall back to them, placeholders checked") {
    const config c = load_ok(
        "[antispim.texts]\nwrong = \"Not quite; {tries_left} left.\"\n"
        "[antispim.texts.de]\nwrong = \"Das stimmt nicht; noch {tries_left}.\"\ntries = \"{n} Versuche\"\n"
        "[antispim.texts.pt-BR]\napproved = \"Obrigado.\"\n");
    const auto& w = c.antispim.wording;
    CHECK(w.default_language == "en");
    CHECK(w.defaults.wrong == "Not quite; {tries_left} left.");
    CHECK(w.defaults.approved == hush::antispim::challenge_texts{}.approved);
    REQUIRE(w.languages.count("de") == 1);
    CHECK(w.languages.at("de").wrong == "Das stimmt nicht; noch {tries_left}.");
    CHECK(w.languages.at("de").tries == "{n} Versuche");
    REQUIRE(w.languages.count("pt-br") == 1);
    CHECK(w.languages.at("pt-br").wrong == "Not quite; {tries_left} left.");  // the default language's
    CHECK(load_ok("[antispim.texts]\nlanguage = \"nl\"\n").antispim.wording.default_language == "nl");
    CHECK(load_error("[antispim.texts]\nwrong = \"{tries} left\"\n") ==
          "2:9: antispim.texts.wrong: unknown placeholder {tries}; this text may use {server}, {receiver}, "
          "{tries_left}");
    CHECK(load_error("[antispim.texts.de]\ntry_one = \"{n} Versuch\"\n") ==
          "2:11: antispim.texts.de.try_one: unknown placeholder {n}; this text takes none");
    CHECK(load_error("[antispim.texts]\nwrogn = \"x\"\n").find("antispim.texts.wrogn: is not a text of the "
                                                               "challenge") != std::string::npos);
    CHECK(load_error("[antispim.texts.\"1x\"]\nwrong = \"x\"\n").find("antispim.texts.1x: must be named by a "
                                                                     "language tag") != std::string::npos);
    CHECK(load_error("[antispim.texts]\nlanguage = \"english!\"\n").find("antispim.texts.language") !=
          std::string::npos);
}

TEST_CASE("antispim imports: url, format, interval") {
    const config c = load_ok("[[antispim.import]]\nurl = \"http://a.test:5280/blocklist.xml\"\n"
                             "[[antispim.import]]\nurl = \"http://lists.test/spam.txt\"\nformat = \"domains\"\n"
                             "interval_seconds = 600\n");
    REQUIRE(c.antispim.imports.size() == 2);
    CHECK(c.antispim.imports[0].format == "hush");
    CHECK(c.antispim.imports[0].interval == std::chrono::seconds{3600});
    CHECK(c.antispim.imports[1].format == "domains");
    CHECK(c.antispim.imports[1].interval == std::chrono::seconds{600});
    CHECK(load_error("[[antispim.import]]\nurl = \"ftp://x\"\n") ==
          "2:7: antispim.import[0].url: must start with https:// or http://");
    CHECK(load_error("[[antispim.import]]\nformat = \"hush\"\n").ends_with("antispim.import[0]: url is required"));
}

TEST_CASE("antispim imports: the evidence kinds to take, validated") {
    const config c = load_ok("[[antispim.import]]\nurl = \"http://a.test/blocklist.xml\"\n"
                             "evidence = [\"admin\", \"challenges\"]\n");
    CHECK(c.antispim.imports[0].evidence == std::vector<std::string>{"admin", "challenges"});
    CHECK(load_ok("[[antispim.import]]\nurl = \"http://a.test/x\"\n").antispim.imports[0].evidence.empty());
    CHECK(load_error("[[antispim.import]]\nurl = \"http://a.test/x\"\nevidence = [\"admin\", \"hearsay\"]\n") ==
          "3:22: antispim.import[0].evidence[1]: \"hearsay\" is not an evidence kind (\"admin\", \"reach\", "
          "\"challenges\", \"consensus\", \"report\", \"import\", \"unknown\")");
    CHECK(load_error("[[antispim.import]]\nurl = \"http://a.test/x\"\nformat = \"domains\"\nevidence = [\"admin\"]\n")
              .ends_with("antispim.import[0].evidence: a \"domains\" list says nothing of its evidence: add "
                         "\"unknown\", or leave evidence out"));
    CHECK(load_ok("[[antispim.import]]\nurl = \"http://a.test/x\"\nformat = \"domains\"\nevidence = [\"unknown\"]\n")
              .antispim.imports[0].evidence.size() == 1);
}

TEST_CASE("antispim consensus: voters' standing and a domain's voters") {
    const config c = load_ok("[antispim.consensus]\ndomain_voters = 4\nvoter_min_age_hours = 0\n"
                             "voter_min_contacts = 5\n");
    CHECK(c.antispim.consensus.domain_voters == 4);
    CHECK(c.antispim.consensus.voter_min_age == std::chrono::hours{0});
    CHECK(c.antispim.consensus.voter_min_contacts == 5);
    const config d = load_ok("");
    CHECK(d.antispim.consensus.voter_min_age == std::chrono::hours{168});
    CHECK(d.antispim.consensus.voter_min_contacts == 2);
    CHECK(d.antispim.consensus.domain_voters == 3);
    CHECK(load_error("[antispim.consensus]\ndomain_voters = 0\n").find("antispim.consensus.domain_voters") !=
          std::string::npos);
}

TEST_CASE("antispim greylist: ranges validated") {
    const config c = load_ok("[antispim.greylist]\nranges = [\"192.0.2.0/24\", \"2001:db8::/32\"]\nretry_after_seconds = 60\n");
    CHECK(c.antispim.greylist.ranges.size() == 2);
    CHECK(c.antispim.greylist.retry_after == std::chrono::seconds{60});
    CHECK(load_error("[antispim.greylist]\nranges = [\"192.0.2.0/40\"]\n") ==
          "2:11: antispim.greylist.ranges[0]: \"192.0.2.0/40\" is not an IP address or range (192.0.2.0/24, 2001:db8::/48)");
}

TEST_CASE("antispim rate, consensus, outbound, publish and admins") {
    const config c = load_ok("[server]\nadmins = [\"Admin@Example.ORG\"]\n"
                             "[antispim.rate]\nexceeded = \"defer\"\n[antispim.rate.invites]\nsender = \"2/h\"\nip = \"off\"\n"
                             "[antispim.consensus]\nusers = 2\ndry_run = true\n"
                             "[antispim.outbound]\nthrottle_at = 3\nsuspend_at = 6\n"
                             "[antispim.publish]\nsources = [\"admin\", \"imports\"]\nhash_jids = true\n");
    CHECK(c.admins == std::vector<std::string>{"admin@example.org"});
    CHECK(c.antispim.rate.defer);
    CHECK(c.antispim.rate.invites.sender.count == 2);
    CHECK(c.antispim.rate.invites.sender.per == std::chrono::seconds{3600});
    CHECK(c.antispim.rate.invites.ip.count == 0);
    CHECK(c.antispim.rate.messages.sender.count == 30);  // untouched default
    CHECK(c.antispim.consensus.users == 2);
    CHECK(c.antispim.consensus.dry_run);
    CHECK(c.antispim.outbound.throttle_at == 3);
    CHECK(c.antispim.publish.hash_jids);
    CHECK(load_error("[antispim.rate.messages]\nsender = \"10 per minute\"\n") ==
          "2:10: antispim.rate.messages.sender: \"10 per minute\" is not a rate: COUNT/UNIT with UNIT s, min, h or d "
          "(\"10/min\"), or \"off\"");
    CHECK(load_error("[antispim.rate.messages]\nsendr = \"1/s\"\n").find("antispim.rate.messages.sendr") !=
          std::string::npos);
    CHECK(load_error("[antispim.outbound]\nthrottle_at = 10\nsuspend_at = 10\n") ==
          "3:14: antispim.outbound.suspend_at: must be greater than throttle_at");
    CHECK(load_error("[antispim.publish]\nsources = [\"everything\"]\n").starts_with("2:12: antispim.publish.sources[0]"));
    CHECK(load_error("[server]\nadmins = [\"example.org\"]\n") ==
          "2:11: server.admins[0]: \"example.org\" is not a bare JID (user@example.org)");
    CHECK(load_error("[[antispim.import]]\nurl = \"https://x.test/l.xml\"\ntrust = \"maybe\"\n")
              .starts_with("3:9: antispim.import[0].trust"));
}

TEST_CASE("antispim publish rtbl: on by default with the pubsub service, off without, an error when asked without") {
    CHECK(load_ok("").antispim.publish.rtbl);
    CHECK_FALSE(load_ok("[antispim.publish]\nrtbl = false\n").antispim.publish.rtbl);
    CHECK_FALSE(load_ok("[pubsub]\nservice = \"\"\n").antispim.publish.rtbl);
    CHECK_FALSE(load_ok("[pubsub]\nenabled = false\n").antispim.publish.rtbl);
    CHECK(load_ok("[antispim.publish]\nrtbl = true\n[pubsub]\nservice = \"lists.example.org\"\n").antispim.publish.rtbl);
    CHECK(load_error("[antispim.publish]\nrtbl = true\n[pubsub]\nservice = \"\"\n") ==
          "2:8: antispim.publish.rtbl: needs the pubsub service ([pubsub] enabled, with a service domain)");
    CHECK(load_error("[antispim.publish]\nrtbl = \"yes\"\n").starts_with("2:8: antispim.publish.rtbl"));
}

TEST_CASE("antispim rtbl sources") {
    const config c = load_ok("[[antispim.rtbl]]\nservice = \"RTBL.Example.NET\"\n"
                             "[[antispim.rtbl]]\nservice = \"other.test\"\nnodes = [\"spam_source_ips\"]\n"
                             "trust = \"challenge\"\nresync_seconds = 60\n");
    REQUIRE(c.antispim.rtbls.size() == 2);
    CHECK(c.antispim.rtbls[0].service == "rtbl.example.net");
    CHECK(c.antispim.rtbls[0].nodes.size() == 3);
    CHECK(c.antispim.rtbls[0].trust == "block");
    CHECK(c.antispim.rtbls[1].nodes == std::vector<std::string>{"spam_source_ips"});
    CHECK(c.antispim.rtbls[1].resync == std::chrono::seconds{60});
    CHECK(load_error("[[antispim.rtbl]]\nnodes = []\n").ends_with("antispim.rtbl[0]: service is required (the pubsub "
                                                                  "service's JID)"));
    CHECK(load_error("[[antispim.rtbl]]\nservice = \"x.test\"\nnodes = [\"muc_bans_sha256\"]\n")
              .starts_with("3:10: antispim.rtbl[0].nodes[0]: \"muc_bans_sha256\" is not a node Hush reads"));
}

TEST_CASE("antispim.content and antispim.score: values, relative list paths, errors with line and key") {
    const config c = load_ok("[antispim.content]\nspamd = \"127.0.0.1:7830\"\nspamd_timeout_ms = 500\n"
                             "spamd_fail = \"hold\"\nspamd_weight = 2\nurl_lists = [\"lists/a.txt\"]\n"
                             "[antispim.score]\nchallenge_at = 4.5\nhold_at = 9\nreject_at = 30\nlisted = 0\nrate = 6\n");
    CHECK(c.antispim.content.spamd == "127.0.0.1:7830");
    CHECK(c.antispim.content.spamd_timeout == std::chrono::milliseconds{500});
    CHECK(c.antispim.content.spamd_fail == "hold");
    CHECK(c.antispim.content.spamd_weight == 2.0);  // an integer is a number too
    CHECK(c.antispim.content.url_lists == std::vector<std::string>{(test_dir() / "conf" / "lists" / "a.txt").string()});
    CHECK(c.antispim.score.challenge_at == 4.5);
    CHECK(c.antispim.score.reject_at == 30.0);
    CHECK(c.antispim.score.listed == 0.0);
    CHECK(c.antispim.score.rate == 6.0);
    CHECK(load_error("[antispim.score]\nrate = 2000\n") == "2:8: antispim.score.rate: must be between 0 and 1000 (got 2000)");
    CHECK(load_error("[antispim.content]\nspamd = \"localhost\"\n") ==
          "2:9: antispim.content.spamd: must be \"host:port\" (\"127.0.0.1:783\", \"[::1]:783\"), or \"\" for no spamd");
    CHECK(load_error("[antispim.content]\nspamd_fail = \"drop\"\n").starts_with("2:14: antispim.content.spamd_fail: "));
    CHECK(load_error("[antispim.content]\nbayes_weight = \"high\"\n").starts_with("2:16: antispim.content.bayes_weight: "));
    CHECK(load_error("[antispim.content]\nurl_weight = -1\n") ==
          "2:14: antispim.content.url_weight: must be between 0 and 1000 (got -1)");
    CHECK(load_error("[antispim.score]\nhold_at = 30\n") ==
          "2:11: antispim.score.hold_at: must keep challenge_at <= hold_at <= reject_at");
    CHECK(load_error("[antispim.content]\nspamd_host = \"x\"\n").starts_with("2:1: antispim.content.spamd_host: unknown key"));
}
