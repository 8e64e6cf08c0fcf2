package io.sparticle.format;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Strict JSON reading shared by the header and index parsers. */
final class Json {
  /**
   * Rejects duplicate keys (JsonParser.Feature.STRICT_DUPLICATE_DETECTION) and lifts Jackson's
   * default string and name limits (20M / 50k chars), which a legal 100 MB header may exceed;
   * the header length bound already caps the input.
   */
  static final JsonFactory FACTORY =
      JsonFactory.builder()
          .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
          .streamReadConstraints(
              StreamReadConstraints.builder()
                  .maxStringLength((int) SafetensorsReader.MAX_HEADER_LENGTH)
                  .maxNameLength((int) SafetensorsReader.MAX_HEADER_LENGTH)
                  .build())
          .build();

  private Json() {}

  /** Invalid UTF-8 at a byte offset. */
  static final class InvalidUtf8Exception extends Exception {
    private static final long serialVersionUID = 1L;
    final int offset;

    InvalidUtf8Exception(int offset) {
      super("invalid UTF-8 at byte " + offset, null, false, false);
      this.offset = offset;
    }
  }

  /** Decodes UTF-8, rejecting (not replacing) malformed input, overlong forms and surrogates. */
  static CharBuffer decodeUtf8(byte[] bytes) throws InvalidUtf8Exception {
    CharsetDecoder decoder =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(bytes);
    // UTF-8 never decodes to more chars than bytes.
    CharBuffer out = CharBuffer.allocate(bytes.length);
    CoderResult result = decoder.decode(in, out, true);
    if (result.isError()) {
      throw new InvalidUtf8Exception(in.position());
    }
    result = decoder.flush(out);
    if (result.isError()) {
      throw new InvalidUtf8Exception(in.position());
    }
    out.flip();
    return out;
  }

  static JsonParser parser(CharBuffer chars) throws IOException {
    return FACTORY.createParser(chars.array(), chars.arrayOffset() + chars.position(), chars.remaining());
  }

  /** Whether {@code e} is Jackson's strict duplicate detection firing. */
  static boolean isDuplicateKey(JsonProcessingException e) {
    return e instanceof JsonParseException
        && e.getOriginalMessage() != null
        && e.getOriginalMessage().startsWith("Duplicate field '");
  }

  /**
   * The key Jackson just rejected as a duplicate: the parser records the name in the object's
   * context before checking it.
   */
  static String duplicateKey(JsonParser p) {
    return p.getParsingContext().getCurrentName();
  }

  /** The key under which the object holding the duplicate sits, or null at the top level. */
  static String duplicateKeyParent(JsonParser p) {
    JsonStreamContext parent = p.getParsingContext().getParent();
    return parent == null || parent.inRoot() ? null : parent.getCurrentName();
  }

  /** "a string", "an array", ... for messages. */
  static String describe(JsonToken token) {
    if (token == null) {
      return "nothing";
    }
    switch (token) {
      case START_OBJECT:
        return "an object";
      case START_ARRAY:
        return "an array";
      case VALUE_STRING:
        return "a string";
      case VALUE_NUMBER_INT:
        return "an integer";
      case VALUE_NUMBER_FLOAT:
        return "a non-integer number";
      case VALUE_TRUE:
      case VALUE_FALSE:
        return "a boolean";
      case VALUE_NULL:
        return "null";
      default:
        return token.toString();
    }
  }
}
