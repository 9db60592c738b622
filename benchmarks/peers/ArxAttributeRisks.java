// ARX's own distinction and separation of every subset of the quasi-identifiers, as JSON.
// Calls ARX's public API (Data, DataHandle.getRiskEstimator().getAttributeRisks()); see README.md
// in this folder for building ARX from its repository. Usage:
//   java -cp <arx classes and jars>:. ArxAttributeRisks <file.csv> <qi1,qi2,...>
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import org.deidentifier.arx.AttributeType;
import org.deidentifier.arx.Data;
import org.deidentifier.arx.DataHandle;
import org.deidentifier.arx.risk.RiskModelAttributes;
import org.deidentifier.arx.risk.RiskModelAttributes.QuasiIdentifierRisk;

public class ArxAttributeRisks {
    public static void main(String[] args) throws Exception {
        Data data = Data.create(new File(args[0]), StandardCharsets.UTF_8, ',');
        Set<String> qis = new HashSet<>(Arrays.asList(args[1].split(",")));
        String header = java.nio.file.Files.readAllLines(new File(args[0]).toPath(), StandardCharsets.UTF_8).get(0);
        for (String col : header.split(",")) {
            data.getDefinition().setAttributeType(col, qis.contains(col) ? AttributeType.QUASI_IDENTIFYING_ATTRIBUTE
                                                                     : AttributeType.INSENSITIVE_ATTRIBUTE);
        }
        DataHandle handle = data.getHandle();
        RiskModelAttributes model = handle.getRiskEstimator().getAttributeRisks();
        StringBuilder out = new StringBuilder("[");
        for (QuasiIdentifierRisk r : model.getAttributeRisks()) {
            if (out.length() > 1) out.append(",\n ");
            out.append("{\"qi\": [");
            for (int j = 0; j < r.getIdentifier().size(); j++) {
                out.append(j > 0 ? ", " : "").append('"').append(r.getIdentifier().get(j)).append('"');
            }
            out.append("], \"distinction\": ").append(r.getDistinction())
               .append(", \"separation\": ").append(r.getSeparation()).append("}");
        }
        System.out.println(out.append("]"));
    }
}
