package complaints.jvm;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.types.variant.VariantBuilder;

/**
 * Whether a text is exactly one JSON value, by Spark's own rules ({@code try_parse_json}: its
 * parser, its builder, its settings for duplicate keys and Unicode) and nothing after the value
 * but whitespace, as a Spark UDF. jobs/parse_sources.py builds the same check from Spark
 * expressions when this class is not in the session (parsing the text in brackets, then asking
 * for a second element): that costs a second pass over the value and builds an array around it.
 */
public final class OneJsonValue implements UDF1<String, Boolean> {
  private static final long serialVersionUID = 1L;
  // As Spark's VariantUtil.JSON_FACTORY: Jackson's defaults.
  private static final JsonFactory JSON = new JsonFactory();

  private final boolean allowDuplicateKeys;
  private final boolean validateUnicode;

  /** The session's {@code spark.sql.variant.allowDuplicateKeys} and
   * {@code spark.sql.variant.validateUnicodeInJsonParsing}, as "true" or "false". */
  public OneJsonValue(String allowDuplicateKeys, String validateUnicode) {
    this.allowDuplicateKeys = Boolean.parseBoolean(allowDuplicateKeys);
    this.validateUnicode = Boolean.parseBoolean(validateUnicode);
  }

  @Override
  public Boolean call(String text) {
    if (text == null) {
      return false;
    }
    try (JsonParser parser = JSON.createParser(text)) {
      parser.nextToken();
      VariantBuilder.parseJson(parser, allowDuplicateKeys, validateUnicode);
      return parser.nextToken() == null;
    } catch (Exception e) {  // what try_parse_json turns into null: not one JSON value
      return false;
    }
  }
}
