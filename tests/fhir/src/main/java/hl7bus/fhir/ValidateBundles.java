package hl7bus.fhir;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

/**
 * Validates FHIR R4 resources (hl7bus's patient bundles) with HAPI FHIR's FhirInstanceValidator,
 * offline: the core R4 definitions, the common code systems (UCUM, MIME types, languages,
 * countries, ...) and the HL7 terminology shipped with the validation resources, checked in
 * memory; snapshots generated on demand; no terminology server.
 *
 * <p>Arguments are JSON files, one resource each; with none (or "-"), each line of standard input
 * is one resource. For each it prints one JSON line on standard output: {"source": ...,
 * "issues": [{"severity", "location", "message", "message_id", "line"}]}. Exit status 0 once
 * all are validated, whatever the issues; 2 on bad usage.
 */
public final class ValidateBundles {

  private ValidateBundles() {}

  public static void main(String[] args) throws IOException {
    FhirValidator validator = newValidator();
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    if (args.length == 0 || (args.length == 1 && args[0].equals("-"))) {
      BufferedReader in =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      String line;
      int n = 0;
      while ((line = in.readLine()) != null) {
        if (!line.isBlank()) {
          out.println(report("stdin:" + n, validator.validateWithResult(line)));
        }
        n++;
      }
      return;
    }
    for (String arg : args) {
      String text = Files.readString(Path.of(arg), StandardCharsets.UTF_8);
      out.println(report(arg, validator.validateWithResult(text)));
    }
  }

  /**
   * The validator and why each setting is what it is.
   *
   * <ul>
   *   <li>Validation support chain: the core R4 StructureDefinitions/ValueSets/CodeSystems
   *       (DefaultProfileValidationSupport, with hapi-fhir-validation-resources-r4), the code
   *       systems HAPI checks without a server (CommonCodeSystemsTerminologyService: UCUM,
   *       BCP-47 languages, MIME types, ISO countries and currencies, USPS states), value set
   *       expansion and code checks in memory (InMemoryTerminologyServerValidationSupport), and
   *       snapshot generation. Required bindings to FHIR's own code systems (status, gender,
   *       encounter class, interpretation, ...) are therefore checked for real.
   *   <li>UnknownCodeSystemWarningValidationSupport, last in the chain, with non-existent code
   *       systems allowed at severity WARNING: a code from a system the validator cannot know
   *       offline (LOINC, SNOMED CT, RxNorm, CVX, a sender's local codes) is a warning, not an
   *       error. Whether LOINC code 2823-3 exists is a terminology question this offline check
   *       cannot answer; the structure and invariants are what must hold.
   *   <li>No terminology checks disabled, extensible-binding warnings kept: they are counted as
   *       warnings, and an invalid code in a required binding stays an error.
   *   <li>Any extension allowed (the default); unknown profiles are errors (the bundles declare
   *       none, so a declared one would be a mistake); references are not assumed valid: a
   *       reference must resolve inside the bundle.
   * </ul>
   */
  static FhirValidator newValidator() {
    FhirContext ctx = FhirContext.forR4Cached();
    UnknownCodeSystemWarningValidationSupport unknownSystems =
        new UnknownCodeSystemWarningValidationSupport(ctx);
    unknownSystems.setAllowNonExistentCodeSystem(true);
    unknownSystems.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
    ValidationSupportChain chain =
        new ValidationSupportChain(
            new DefaultProfileValidationSupport(ctx),
            new CommonCodeSystemsTerminologyService(ctx),
            new InMemoryTerminologyServerValidationSupport(ctx),
            new SnapshotGeneratingValidationSupport(ctx),
            unknownSystems);
    FhirInstanceValidator instanceValidator = new FhirInstanceValidator(chain);
    instanceValidator.setAnyExtensionsAllowed(true);
    instanceValidator.setErrorForUnknownProfiles(true);
    instanceValidator.setNoTerminologyChecks(false);
    instanceValidator.setAssumeValidRestReferences(false);
    FhirValidator validator = ctx.newValidator();
    validator.setValidateAgainstStandardSchema(false);
    validator.setValidateAgainstStandardSchematron(false);
    validator.registerValidatorModule(instanceValidator);
    return validator;
  }

  static String report(String source, ValidationResult result) {
    StringBuilder json = new StringBuilder();
    json.append("{\"source\":").append(quote(source)).append(",\"issues\":[");
    boolean first = true;
    for (SingleValidationMessage message : result.getMessages()) {
      if (!first) {
        json.append(',');
      }
      first = false;
      json.append("{\"severity\":").append(quote(message.getSeverity().getCode()));
      json.append(",\"location\":").append(quote(message.getLocationString()));
      json.append(",\"message\":").append(quote(message.getMessage()));
      json.append(",\"message_id\":").append(quote(message.getMessageId()));
      Integer line = message.getLocationLine();
      json.append(",\"line\":").append(line == null ? "null" : line.toString());
      json.append('}');
    }
    return json.append("]}").toString();
  }

  static String quote(String value) {
    if (value == null) {
      return "null";
    }
    StringBuilder out = new StringBuilder(value.length() + 2).append('"');
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
  }
}
