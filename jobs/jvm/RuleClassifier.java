package complaints.jvm;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The rules' classification of a text (jobs/classify.py, ``with_classification``) as a Spark UDF:
 * the same regexes, the same cue table, the same scores and ties, computed in Java rather than
 * with higher-order Spark expressions. jobs/classify.py builds the plan (JSON: the regexes, the
 * rules, the categories) and keeps the expressions for sessions without this class; the tests
 * compare the two.
 *
 * <p>One thing only Java does: the scan tries the main regex only where a cue can start, told by
 * the plan's {@code starts} (the first characters of every cue, in a coarse alphabet: ASCII
 * letters in lower case, digits, "_" and "#" for anything else), which is Matcher.find's result
 * with far fewer attempts.
 */
public final class RuleClassifier implements UDF1<String, Row> {
  private static final long serialVersionUID = 1L;
  private static final Map<String, Plan> PLANS = new ConcurrentHashMap<>();
  private static final int ALPHABET = 38;

  private final String plan;
  private transient Plan compiled;  // this copy's: looking the plan up by its text costs more

  public RuleClassifier(String plan) {
    this.plan = plan;
    this.compiled = Plan.of(plan);  // a bad plan fails here, on the driver, not in a task
  }

  @Override
  public Row call(String text) {
    if (compiled == null) {
      compiled = Plan.of(plan);  // compiled once per JVM, shared by the tasks' copies
    }
    return compiled.classify(text == null ? "" : text);
  }

  private static final class Rule {
    final String category;
    final String sub;
    final String severity;
    final String ruleId;
    final double weight;

    Rule(JsonNode node) {
      category = node.get("category").asText();
      sub = node.get("sub").asText();
      severity = node.get("severity").asText();
      ruleId = node.get("rule_id").asText();
      weight = node.get("weight").asDouble();
    }
  }

  private static final class Cue {
    final int index;  // 1-based, as the rules are listed in the plan
    final double weight;

    Cue(int index, double weight) {
      this.index = index;
      this.weight = weight;
    }
  }

  private static final class Plan {
    final Pattern cue;
    // The cue regex as it is at a position whose character is listed (``cue_at``): a fraction of
    // its groups, which Matcher.region resets at each position tried. The last one: ``cue``.
    final Pattern[] cueAt;
    final int[] cueAtAscii = new int[128];
    final Map<Character, Integer> cueAtOther = new HashMap<>();
    final Pattern negationStart;
    final Pattern anchored;
    final Pattern[] alternatives;
    final Map<String, int[]> groupOf = new HashMap<>();  // first character -> alternatives
    final int[] anywhere;
    final Map<String, Integer> table = new HashMap<>();
    final Rule[] rules;
    final String[] categories;
    final int[] priorities;
    final String withoutCue;
    final String defaultSub;
    final String defaultSeverity;
    final Pattern opening;
    final double openingBoost;
    final boolean wordStart;  // the cue regex starts with (?<![a-z]): never right after a letter
    // Cue starts by length (coarse characters, as numbers: ``symbol``); null: every position
    // may start a cue.
    final BitSet[] starts;
    final int startLength;

    static Plan of(String json) {
      return PLANS.computeIfAbsent(json, Plan::new);
    }

    Plan(String json) {
      JsonNode p;
      try {
        p = new ObjectMapper().readTree(json);
      } catch (java.io.IOException e) {
        throw new IllegalArgumentException("not a classification plan", e);
      }
      cue = Pattern.compile(p.get("cue").asText());
      negationStart = Pattern.compile(p.get("negation_start").asText());
      anchored = Pattern.compile(p.get("anchored").asText());
      JsonNode at = p.get("cue_at");
      cueAt = new Pattern[at.size() + 1];
      Arrays.fill(cueAtAscii, at.size());
      for (int i = 0; i < at.size(); i++) {
        cueAt[i] = Pattern.compile(at.get(i).get(1).asText());
        for (int c : at.get(i).get(0).asText().codePoints().toArray()) {
          if (!Character.isBmpCodePoint(c) || Character.isSurrogate((char) c)) {
            continue;  // a character of two chars: the whole regex there
          }
          // The groups' lookaheads are case-insensitive for ASCII letters only, as (?i) is.
          for (char variant : new char[] {(char) c, asciiUpper((char) c)}) {
            if (variant < 128) {
              cueAtAscii[variant] = i;
            } else {
              cueAtOther.put(variant, i);
            }
          }
        }
      }
      cueAt[at.size()] = cue;
      JsonNode alts = p.get("alternatives");
      alternatives = new Pattern[alts.size()];
      for (int i = 0; i < alts.size(); i++) {
        alternatives[i] = Pattern.compile(alts.get(i).asText());
      }
      for (JsonNode group : p.get("groups")) {
        int[] members = ints(group.get(1));
        String chars = group.get(0).asText();
        chars.codePoints().forEach(c -> groupOf.put(new String(Character.toChars(c)), members));
      }
      anywhere = ints(p.get("anywhere"));
      p.get("table").fields().forEachRemaining(e -> table.put(e.getKey(), e.getValue().asInt()));
      JsonNode ruleNodes = p.get("rules");
      rules = new Rule[ruleNodes.size()];
      for (int i = 0; i < rules.length; i++) {
        rules[i] = new Rule(ruleNodes.get(i));
      }
      JsonNode cats = p.get("categories");
      categories = new String[cats.size()];
      priorities = new int[cats.size()];
      for (int i = 0; i < categories.length; i++) {
        categories[i] = cats.get(i).get("name").asText();
        priorities[i] = cats.get(i).get("priority").asInt();
      }
      withoutCue = p.get("without_cue").asText();
      defaultSub = p.get("default_subcategory").asText();
      defaultSeverity = p.get("default_severity").asText();
      JsonNode open = p.get("opening");
      opening = open.isNull() ? null : Pattern.compile(open.get("regex").asText());
      openingBoost = open.isNull() ? 0.0 : open.get("boost").asDouble();
      wordStart = p.get("word_start").asBoolean();
      JsonNode startNodes = p.get("starts");
      int longest = 0;
      for (JsonNode node : startNodes) {
        longest = Math.max(longest, node.asText().length());
      }
      startLength = longest;
      if (startNodes.isNull()) {
        starts = null;
      } else {
        starts = new BitSet[longest + 1];
        for (int length = 1; length <= longest; length++) {
          starts[length] = new BitSet();
        }
        for (JsonNode node : startNodes) {
          String start = node.asText();
          int code = 0;
          for (int k = 0; k < start.length(); k++) {
            code = code * ALPHABET + symbol(start.charAt(k));
          }
          starts[start.length()].set(code);
        }
      }
    }

    private static int[] ints(JsonNode array) {
      int[] out = new int[array.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = array.get(i).asInt();
      }
      return out;
    }

    /** A character of the coarse alphabet ``starts`` is written in (ASCII letters in lower case,
     * digits, "_", "#" for anything else) as a number from 0 to ALPHABET - 1. */
    private static int symbol(char c) {
      if (c >= 'a' && c <= 'z') {
        return c - 'a';
      }
      if (c >= 'A' && c <= 'Z') {
        return c - 'A';
      }
      if (c >= '0' && c <= '9') {
        return 26 + c - '0';
      }
      return c == '_' ? 36 : 37;
    }

    private static char asciiUpper(char c) {
      return c >= 'a' && c <= 'z' ? (char) (c - ('a' - 'A')) : c;
    }

    /** Which of ``cueAt`` matches as the cue regex at ``at``. */
    private int cueAtIndex(String text, int at) {
      if (at >= text.length()) {
        return cueAt.length - 1;
      }
      char c = text.charAt(at);
      return c < 128 ? cueAtAscii[c] : cueAtOther.getOrDefault(c, cueAt.length - 1);
    }

    private static boolean isAsciiLetter(char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    /** Whether a cue may start at ``at``: some prefix of the text there is a cue's start. */
    private boolean mayStart(String text, int at) {
      if (wordStart && at > 0 && isAsciiLetter(text.charAt(at - 1))) {
        return false;
      }
      if (starts == null) {
        return true;
      }
      int end = Math.min(text.length(), at + startLength);
      int code = 0;
      for (int k = at; k < end; k++) {
        code = code * ALPHABET + symbol(text.charAt(k));
        if (starts[k - at + 1].get(code)) {
          return true;
        }
      }
      return false;
    }

    /** Every match of the main regex, as Matcher.find finds them. */
    List<String> matches(String text) {
      List<String> found = new ArrayList<>();
      Matcher[] matchers = new Matcher[cueAt.length];
      int at = 0;
      int n = text.length();
      while (at <= n) {
        boolean lowSurrogate = at > 0 && at < n && Character.isLowSurrogate(text.charAt(at))
            && Character.isHighSurrogate(text.charAt(at - 1));
        if (!lowSurrogate && mayStart(text, at)) {
          int k = cueAtIndex(text, at);
          Matcher m = matchers[k];
          if (m == null) {
            m = cueAt[k].matcher(text).useTransparentBounds(true).useAnchoringBounds(false);
            matchers[k] = m;
          }
          m.region(at, n);
          if (m.lookingAt()) {
            found.add(m.group());
            at = m.end() > at ? m.end() : at + 1;
            continue;
          }
        }
        at++;
      }
      return found;
    }

    private static String asciiLower(String s) {
      StringBuilder out = null;
      for (int k = 0; k < s.length(); k++) {
        char c = s.charAt(k);
        if (c >= 'A' && c <= 'Z') {
          if (out == null) {
            out = new StringBuilder(s);
          }
          out.setCharAt(k, (char) (c + ('a' - 'A')));
        }
      }
      return out == null ? s : out.toString();
    }

    /** ``_rule_index``: the first alternative of the part's first-character group that matches
     * all of it (1-based; 0: none). */
    private int ruleIndex(String part) {
      String first = part.isEmpty() ? ""
          : new String(Character.toChars(part.codePointAt(0))).toLowerCase(Locale.ROOT);
      int[] members = groupOf.getOrDefault(first, anywhere);
      for (int i : members) {
        if (alternatives[i].matcher(part).matches()) {
          return i + 1;
        }
      }
      return 0;
    }

    private void cuesIn(String text, double boost, List<Cue> out) {
      for (String found : matches(text)) {
        String negation = "";
        if (negationStart.matcher(found).find()) {
          Matcher split = anchored.matcher(found);
          if (split.find() && split.group(1) != null) {
            negation = split.group(1);
          }
        }
        String part = found.substring(negation.length());
        Integer looked = table.get(asciiLower(part));
        int index = looked != null ? looked : ruleIndex(part);
        if (index == 0) {
          continue;
        }
        double weight = negation.isEmpty() ? rules[index - 1].weight * boost : 0.0;
        out.add(new Cue(index, weight));
      }
    }

    Row classify(String text) {
      List<Cue> cues = new ArrayList<>();
      cuesIn(text, 1.0, cues);
      if (opening != null) {
        Matcher m = opening.matcher(text);
        cuesIn(m.find() ? m.group() : "", openingBoost, cues);
      }
      int best = -1;
      double bestScore = 0.0;
      double total = 0.0;
      for (int c = 0; c < categories.length; c++) {
        double score = 0.0;
        for (Cue cue : cues) {
          boolean ours = rules[cue.index - 1].category.equals(categories[c]);
          score = score + (ours ? cue.weight : 0.0);  // as Spark's aggregate adds, in order
        }
        total = total + score;
        // array_max of (score, priority, -listed place, name): higher score, then priority,
        // then the first listed
        if (best < 0 || score > bestScore
            || (score == bestScore && priorities[c] > priorities[best])) {
          best = c;
          bestScore = score;
        }
      }
      if (best < 0 || !(bestScore > 0)) {
        return RowFactory.create(withoutCue, defaultSub, defaultSeverity, null, 0.0);
      }
      Cue winner = null;
      for (Cue cue : cues) {
        if (!(cue.weight > 0) || !rules[cue.index - 1].category.equals(categories[best])) {
          continue;
        }
        // array_max of (weight, -index, ...): the heaviest, then the first listed rule
        if (winner == null || cue.weight > winner.weight
            || (cue.weight == winner.weight && cue.index < winner.index)) {
          winner = cue;
        }
      }
      Rule rule = rules[winner.index - 1];
      double share = BigDecimal.valueOf(bestScore / total).setScale(3, RoundingMode.HALF_UP)
          .doubleValue();  // Spark's round(x, 3) of a double
      return RowFactory.create(categories[best], rule.sub, rule.severity, rule.ruleId, share);
    }
  }
}
