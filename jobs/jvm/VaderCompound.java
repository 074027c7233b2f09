package complaints.jvm;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.apache.spark.sql.api.java.UDF1;

/**
 * VADER's compound score of a text (vaderSentiment 3.3.2: {@code
 * polarity_scores(text)["compound"]}) as a Spark UDF: the package's code, step for step, in Java.
 * jobs/sentiment.py builds the same score from Spark expressions when this class is not in the
 * session (a JRE only, a cluster); its tests hold both to the package's scores.
 *
 * <p>The data come from jobs/sentiment.py ({@code load_vader}) as "key TAB value" lines: the
 * lexicon, the emojis (single code points), the boosters, the negation words, the idioms.
 */
public final class VaderCompound implements UDF1<String, Double> {
  private static final long serialVersionUID = 1L;

  // VADER's constants (as in jobs/sentiment.py; the tests hold the scores to the package's)
  private static final double C_INCR = 0.733;
  private static final double N_SCALAR = -0.74;
  private static final double ALPHA = 15;
  private static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

  private final HashMap<String, Double> lexicon;
  private final HashMap<Integer, String> emojis;
  private final HashMap<String, Double> boosters;
  private final HashSet<String> negations;
  private final HashMap<String, Double> specialCases;

  public VaderCompound(String lexicon, String emojis, String boosters, String negations,
      String specialCases) {
    this.lexicon = numbers(lexicon);
    this.emojis = new HashMap<>();
    for (Map.Entry<String, String> e : pairs(emojis).entrySet()) {
      this.emojis.put(e.getKey().codePointAt(0), e.getValue());
    }
    this.boosters = numbers(boosters);
    this.negations = new HashSet<>(pairs(negations).keySet());
    this.specialCases = numbers(specialCases);
  }

  private static HashMap<String, String> pairs(String lines) {
    HashMap<String, String> out = new HashMap<>();
    for (String line : lines.split("\n")) {
      if (line.isEmpty()) {
        continue;
      }
      int tab = line.indexOf('\t');
      out.put(tab < 0 ? line : line.substring(0, tab), tab < 0 ? "" : line.substring(tab + 1));
    }
    return out;
  }

  private static HashMap<String, Double> numbers(String lines) {
    HashMap<String, Double> out = new HashMap<>();
    for (Map.Entry<String, String> e : pairs(lines).entrySet()) {
      out.put(e.getKey(), Double.parseDouble(e.getValue()));
    }
    return out;
  }

  @Override
  public Double call(String text) {
    return text == null ? null : compound(text);
  }

  /** {@code polarity_scores(text)["compound"]}. */
  public double compound(String text) {
    List<String> words = words(pyStrip(withoutEmojis(text)));
    int n = words.size();
    if (n == 0) {
      return 0.0;
    }
    String[] lower = new String[n];
    for (int i = 0; i < n; i++) {
      lower[i] = words.get(i).toLowerCase(Locale.ROOT);
    }
    boolean capDiff = capDifferential(words);
    double[] sentiments = new double[n];
    for (int i = 0; i < n; i++) {
      if (boosters.containsKey(lower[i])
          || (i < n - 1 && lower[i].equals("kind") && lower[i + 1].equals("of"))) {
        continue;  // valence 0
      }
      sentiments[i] = valence(words, lower, i, capDiff);
    }
    butCheck(lower, sentiments);
    double sum = 0.0;
    for (double s : sentiments) {
      sum += s;
    }
    double emphasis = punctuationEmphasis(text);
    if (sum > 0) {
      sum += emphasis;
    } else if (sum < 0) {
      sum -= emphasis;
    }
    double normalised = Math.max(-1.0, Math.min(1.0, sum / Math.sqrt(sum * sum + ALPHA)));
    // Python's round(x, 4): the double's exact value, half to even
    return new BigDecimal(normalised).setScale(4, RoundingMode.HALF_EVEN).doubleValue();
  }

  /** Each emoji replaced by its description, a space before it unless one is there. */
  private String withoutEmojis(String text) {
    StringBuilder out = null;
    boolean prevSpace = true;
    for (int k = 0; k < text.length(); ) {
      int cp = text.codePointAt(k);
      String description = emojis.get(cp);
      if (description != null && out == null) {
        out = new StringBuilder(text.length() + 32).append(text, 0, k);
      }
      if (description != null) {
        if (!prevSpace) {
          out.append(' ');
        }
        out.append(description);
        prevSpace = false;
      } else {
        if (out != null) {
          out.appendCodePoint(cp);
        }
        prevSpace = cp == ' ';
      }
      k += Character.charCount(cp);
    }
    return out == null ? text : out.toString();
  }

  /** Python's {@code str.isspace()} for one code point. */
  static boolean isPySpace(int cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0
        || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029
        || cp == 0x202f || cp == 0x205f || cp == 0x3000;
  }

  private static String pyStrip(String text) {
    int start = 0;
    int end = text.length();
    while (start < end && isPySpace(text.codePointAt(start))) {
      start += Character.charCount(text.codePointAt(start));
    }
    while (end > start && isPySpace(text.codePointBefore(end))) {
      end -= Character.charCount(text.codePointBefore(end));
    }
    return text.substring(start, end);
  }

  /** {@code text.split()}, punctuation stripped from each word's ends unless that leaves two
   * characters or fewer (an emoticon). */
  private static List<String> words(String text) {
    List<String> out = new ArrayList<>();
    int k = 0;
    while (k < text.length()) {
      int cp = text.codePointAt(k);
      if (isPySpace(cp)) {
        k += Character.charCount(cp);
        continue;
      }
      int start = k;
      while (k < text.length() && !isPySpace(text.codePointAt(k))) {
        k += Character.charCount(text.codePointAt(k));
      }
      out.add(stripPunctuation(text.substring(start, k)));
    }
    return out;
  }

  private static String stripPunctuation(String token) {
    int start = 0;
    int end = token.length();
    while (start < end && PUNCTUATION.indexOf(token.charAt(start)) >= 0) {
      start++;
    }
    while (end > start && PUNCTUATION.indexOf(token.charAt(end - 1)) >= 0) {
      end--;
    }
    if (start == 0 && end == token.length()) {
      return token;
    }
    String stripped = token.substring(start, end);
    return stripped.codePointCount(0, stripped.length()) <= 2 ? token : stripped;
  }

  /** Python's {@code str.isupper()}: a cased character, and no lower- or title-case one. */
  static boolean isPyUpper(String word) {
    boolean cased = false;
    for (int k = 0; k < word.length(); ) {
      int cp = word.codePointAt(k);
      if (Character.isLowerCase(cp) || Character.isTitleCase(cp)) {
        return false;
      }
      cased |= Character.isUpperCase(cp);
      k += Character.charCount(cp);
    }
    return cased;
  }

  private static boolean capDifferential(List<String> words) {
    int caps = 0;
    for (String w : words) {
      if (isPyUpper(w)) {
        caps++;
      }
    }
    int differential = words.size() - caps;
    return differential > 0 && differential < words.size();
  }

  private double scalarIncDec(String word, String lower, double valence, boolean capDiff) {
    Double booster = boosters.get(lower);
    if (booster == null) {
      return 0.0;
    }
    double scalar = valence < 0 ? -booster : booster;
    if (capDiff && isPyUpper(word)) {
      scalar += valence > 0 ? C_INCR : -C_INCR;
    }
    return scalar;
  }

  private boolean negated(String lower) {
    return negations.contains(lower) || lower.contains("n't");
  }

  /** {@code sentiment_valence} (with {@code _least_check}) of word {@code i}. */
  private double valence(List<String> words, String[] lower, int i, boolean capDiff) {
    Double own = lexicon.get(lower[i]);
    if (own == null) {
      return 0.0;
    }
    int n = lower.length;
    double valence = own;
    if (lower[i].equals("no") && i != n - 1 && lexicon.containsKey(lower[i + 1])) {
      valence = 0.0;
    }
    if ((i > 0 && lower[i - 1].equals("no")) || (i > 1 && lower[i - 2].equals("no"))
        || (i > 2 && lower[i - 3].equals("no")
          && (lower[i - 1].equals("or") || lower[i - 1].equals("nor")))) {
      valence = own * N_SCALAR;
    }
    if (capDiff && isPyUpper(words.get(i))) {
      valence += valence > 0 ? C_INCR : -C_INCR;
    }
    for (int start = 0; start < 3; start++) {
      int before = i - (start + 1);
      if (i > start && !lexicon.containsKey(lower[before])) {
        double s = scalarIncDec(words.get(before), lower[before], valence, capDiff);
        if (start == 1 && s != 0) {
          s = s * 0.95;
        }
        if (start == 2 && s != 0) {
          s = s * 0.9;
        }
        valence = valence + s;
        valence = negationCheck(valence, lower, start, i);
        if (start == 2) {
          valence = specialIdioms(valence, lower, i);
        }
      }
    }
    return leastCheck(valence, lower, i);
  }

  private double negationCheck(double valence, String[] lower, int start, int i) {
    if (start == 0) {
      return negated(lower[i - 1]) ? valence * N_SCALAR : valence;
    }
    if (start == 1) {
      if (lower[i - 2].equals("never")
          && (lower[i - 1].equals("so") || lower[i - 1].equals("this"))) {
        return valence * 1.25;
      }
      if (lower[i - 2].equals("without") && lower[i - 1].equals("doubt")) {
        return valence;
      }
      return negated(lower[i - 2]) ? valence * N_SCALAR : valence;
    }
    if ((lower[i - 3].equals("never") && (lower[i - 2].equals("so") || lower[i - 2].equals("this")))
        || (lower[i - 1].equals("so") || lower[i - 1].equals("this"))) {
      return valence * 1.25;
    }
    if (lower[i - 3].equals("without")
        && (lower[i - 2].equals("doubt") || lower[i - 1].equals("doubt"))) {
      return valence;
    }
    return negated(lower[i - 3]) ? valence * N_SCALAR : valence;
  }

  /** {@code _special_idioms_check} (called with i >= 3 only, as the package does). */
  private double specialIdioms(double valence, String[] lower, int i) {
    String oneZero = lower[i - 1] + " " + lower[i];
    String twoOneZero = lower[i - 2] + " " + lower[i - 1] + " " + lower[i];
    String twoOne = lower[i - 2] + " " + lower[i - 1];
    String threeTwoOne = lower[i - 3] + " " + lower[i - 2] + " " + lower[i - 1];
    String threeTwo = lower[i - 3] + " " + lower[i - 2];
    for (String seq : new String[] {oneZero, twoOneZero, twoOne, threeTwoOne, threeTwo}) {
      Double idiom = specialCases.get(seq);
      if (idiom != null) {
        valence = idiom;
        break;
      }
    }
    if (lower.length - 1 > i) {
      Double idiom = specialCases.get(lower[i] + " " + lower[i + 1]);
      if (idiom != null) {
        valence = idiom;
      }
    }
    if (lower.length - 1 > i + 1) {
      Double idiom = specialCases.get(lower[i] + " " + lower[i + 1] + " " + lower[i + 2]);
      if (idiom != null) {
        valence = idiom;
      }
    }
    for (String nGram : new String[] {threeTwoOne, threeTwo, twoOne}) {
      Double booster = boosters.get(nGram);
      if (booster != null) {
        valence = valence + booster;
      }
    }
    return valence;
  }

  private double leastCheck(double valence, String[] lower, int i) {
    if (i > 1 && !lexicon.containsKey(lower[i - 1]) && lower[i - 1].equals("least")) {
      if (!lower[i - 2].equals("at") && !lower[i - 2].equals("very")) {
        valence = valence * N_SCALAR;
      }
    } else if (i > 0 && !lexicon.containsKey(lower[i - 1]) && lower[i - 1].equals("least")) {
      valence = valence * N_SCALAR;
    }
    return valence;
  }

  /** {@code _but_check}, with its {@code list.index} lookup by value: when a weighted value
   * equals a later one, the earlier word is weighed again and the later not at all. */
  private static void butCheck(String[] lower, double[] sentiments) {
    int but = -1;
    for (int k = 0; k < lower.length; k++) {
      if (lower[k].equals("but")) {
        but = k;
        break;
      }
    }
    if (but < 0) {
      return;
    }
    for (int k = 0; k < sentiments.length; k++) {
      double sentiment = sentiments[k];
      int si = 0;
      while (sentiments[si] != sentiment) {
        si++;
      }
      if (si < but) {
        sentiments[si] = sentiment * 0.5;
      } else if (si > but) {
        sentiments[si] = sentiment * 1.5;
      }
    }
  }

  private static double punctuationEmphasis(String text) {
    int exclamations = 0;
    int questions = 0;
    for (int k = 0; k < text.length(); k++) {
      char c = text.charAt(k);
      exclamations += c == '!' ? 1 : 0;
      questions += c == '?' ? 1 : 0;
    }
    double emphasis = Math.min(exclamations, 4) * 0.292;
    if (questions > 1) {
      emphasis += questions <= 3 ? questions * 0.18 : 0.96;
    }
    return emphasis;
  }
}
